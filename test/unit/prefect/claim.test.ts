import os from 'node:os';
import { describe, expect, it } from 'vitest';
import { isRehearseError } from '../../../src/errors.js';
import { CLAIM_TTL_MS, claimDeployment, claimName, releaseClaimOf, staleReason } from '../../../src/prefect/claim.js';
import { createFakeApi, type FakeResponse, type FakeRoutes, recorded } from '../../support/fake-api.js';

const DEPLOYMENT = '12a1d11a-944a-4b74-8d29-87483e462466';
const NAME = claimName(DEPLOYMENT);
const VARIABLE = `/variables/name/${NAME}`;
const NOW = Date.parse('2026-12-06T08:01:00.000Z');

/** The recorded variable, its value replaced by `value` (a holder on another host, as recorded, unless told). */
const heldBy = (value: Record<string, unknown> = {}): FakeResponse => {
  const variable = JSON.parse(recorded('variable.claim.json')) as { value: Record<string, unknown> };
  variable.value = { ...variable.value, ...value };
  return { status: 200, text: JSON.stringify(variable) };
};
const CREATED: FakeResponse = { status: 201, text: recorded('variable.claim.json') };
const EXISTS: FakeResponse = { status: 409, text: recorded('variable.claim.409.json') };
const GONE: FakeResponse = { status: 404, text: recorded('variable.not-found.json') };
const DELETED: FakeResponse = { status: 204, text: '' };

const claim = (routes: FakeRoutes, now = NOW) => {
  const api = createFakeApi(routes);
  const claiming = claimDeployment(api, {
    deploymentId: DEPLOYMENT,
    deploymentName: 'hotpass-backfill/hotpass-backfill',
    bundle: '20261206T080100Z',
    now: () => now,
  });
  return { api, claiming };
};

describe('one rehearsal of a deployment at a time, claimed on the server', () => {
  it('creates the variable and gives it back, its own only, when the step ends', async () => {
    let mine: unknown;
    const { api, claiming } = claim({
      'POST /variables/': (request) => {
        mine = (request.body as { value: unknown }).value;
        return CREATED;
      },
      [`GET ${VARIABLE}`]: () => ({ status: 200, text: JSON.stringify({ value: mine }) }),
      [`DELETE ${VARIABLE}`]: DELETED,
    });
    const held = await claiming;
    expect(mine).toMatchObject({ bundle: '20261206T080100Z', host: os.hostname(), pid: process.pid });
    await held?.release();
    expect(api.requests.map((r) => `${r.method} ${r.path}`)).toEqual([
      'POST /variables/',
      `GET ${VARIABLE}`,
      `DELETE ${VARIABLE}`,
    ]);
  });

  it('refuses, busy (exit 3), naming the live holder, and creates nothing of its own', async () => {
    const { api, claiming } = claim({
      'POST /variables/': EXISTS,
      [`GET ${VARIABLE}`]: heldBy({ renewedAt: '2026-12-06T08:00:30.000Z' }),
    });
    const error = await claiming.catch((e: unknown) => e);
    expect(isRehearseError(error) && error.code).toBe('DEPLOYMENT_CLAIMED');
    expect(isRehearseError(error) && error.exitCode).toBe(3);
    expect(isRehearseError(error) && error.details[0]).toBe(
      'held by the rehearsal of bundle 20261206T080000Z on ci-runner (pid 4242), since 2026-12-06T08:00:00.000Z',
    );
    expect(api.requests.map((r) => r.method)).toEqual(['POST', 'GET']);
  });

  it('takes over a claim its holder stopped renewing, once', async () => {
    const stale = heldBy({ renewedAt: new Date(NOW - CLAIM_TTL_MS - 1000).toISOString() });
    const { api, claiming } = claim({
      'POST /variables/': [EXISTS, CREATED],
      [`GET ${VARIABLE}`]: stale,
      [`DELETE ${VARIABLE}`]: DELETED,
    });
    expect(await claiming).toBeDefined();
    expect(api.requests.map((r) => r.method)).toEqual(['POST', 'GET', 'DELETE', 'POST']);
  });

  it('refuses when a second taker beat it to a stale claim', async () => {
    const stale = heldBy({ renewedAt: new Date(NOW - CLAIM_TTL_MS - 1000).toISOString() });
    const { claiming } = claim({
      'POST /variables/': EXISTS,
      [`GET ${VARIABLE}`]: stale,
      [`DELETE ${VARIABLE}`]: DELETED,
    });
    await expect(claiming).rejects.toMatchObject({ code: 'DEPLOYMENT_CLAIMED' });
  });

  it('finds its own claim when a create resent after a 503 meets a 409', async () => {
    let sent: unknown;
    const { claiming } = claim({
      'POST /variables/': (request) => {
        sent = (request.body as { value: unknown }).value;
        return EXISTS;
      },
      [`GET ${VARIABLE}`]: () => ({ status: 200, text: JSON.stringify({ value: sent }) }),
    });
    expect(await claiming).toBeDefined();
  });

  it('judges a holder of this host whose process is gone stale at once, and a foreign value never ours', () => {
    const fresh = { bundle: 'b', host: os.hostname(), claimedAt: new Date(NOW).toISOString() };
    const renewedAt = new Date(NOW).toISOString();
    expect(staleReason({ ...fresh, pid: process.pid, renewedAt }, NOW)).toBeUndefined();
    expect(staleReason({ ...fresh, pid: 2 ** 22 + 7, renewedAt }, NOW)).toMatch(/is no longer running/);
    expect(staleReason({ ...fresh, pid: process.pid, renewedAt }, NOW + CLAIM_TTL_MS)).toMatch(
      /last renewed it 300 s ago/,
    );
    expect(staleReason('hand-made', NOW)).toBe('it is not a claim rehearse wrote');
  });

  it('renews no more than every 30 s, and a server with no variables leaves the rehearsal unclaimed', async () => {
    let now = NOW;
    const api = createFakeApi({ 'POST /variables/': CREATED, [`PATCH ${VARIABLE}`]: DELETED });
    const held = await claimDeployment(api, {
      deploymentId: DEPLOYMENT,
      deploymentName: 'd',
      bundle: 'b',
      now: () => now,
    });
    for (let second = 0; second < 65; second += 1, now += 1000) held?.renew();
    expect(api.requests.filter((r) => r.method === 'PATCH')).toHaveLength(2);
    expect(await claim({ 'POST /variables/': GONE }).claiming).toBeUndefined();
  });

  it("cleanup gives back only the named bundle's claim (any with none named), and a dry run only reads it", async () => {
    const routes = { [`GET ${VARIABLE}`]: heldBy(), [`DELETE ${VARIABLE}`]: DELETED };
    const api = createFakeApi(routes);
    expect(await releaseClaimOf(api, DEPLOYMENT, '20261206T090000Z')).toBeUndefined();
    expect(await releaseClaimOf(api, DEPLOYMENT, '20261206T080000Z', true)).toBe('20261206T080000Z');
    expect(api.requests.map((r) => r.method)).toEqual(['GET', 'GET']);
    expect(await releaseClaimOf(api, DEPLOYMENT, undefined)).toBe('20261206T080000Z');
    expect(api.requests.at(-1)?.method).toBe('DELETE');
  });
});
