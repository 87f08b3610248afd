import { describe, expect, it } from 'vitest';
import { checkSlotsReleased } from '../../../../src/steps/validate/slots.js';
import { createTestContext } from '../../../support/context.js';
import { createFakeApi, type FakeResponse, type FakeRoutes, recorded } from '../../../support/fake-api.js';
import { createFakeRunner } from '../../../support/fake-runner.js';
import { createFakeClock } from '../../support/fake-clock.js';

const DEPLOYMENT = '12a1d11a-944a-4b74-8d29-87483e462466';
const OWN = `deployment:${DEPLOYMENT}`;
const KEY = 'hotpass-backfill';
const BEFORE = [
  { limit: OWN, activeSlots: 0 },
  { limit: KEY, activeSlots: 0 },
];

/** The recorded global limit named `name`, holding `active` slots. */
const gcl = (name: string, active: number): FakeResponse => {
  const limit = JSON.parse(recorded('gcl.json')) as Record<string, unknown>;
  return { status: 200, text: JSON.stringify({ ...limit, name, active_slots: active }) };
};
const SETTINGS: FakeResponse = { status: 200, text: recorded('admin-settings.concurrency.json') };

function check(routes: FakeRoutes, options: { unfinished?: number; config?: object; serverRestartedAt?: string } = {}) {
  const api = createFakeApi({ 'GET /admin/settings': SETTINGS, ...routes });
  const clock = createFakeClock();
  const ctx = { ...createTestContext({ runner: createFakeRunner([]), api, config: options.config }), clock };
  const judged = checkSlotsReleased(ctx, BEFORE, DEPLOYMENT, options.unfinished ?? 0, options.serverRestartedAt);
  return { api, clock, ctx, judged };
}

const ownRoute = `GET /v2/concurrency_limits/${encodeURIComponent(OWN)}`;
const keyRoute = `GET /v2/concurrency_limits/${KEY}`;

describe('slots.released: every slot the burst took comes back', () => {
  it('passes at once when both limits hold what they held before, without waiting', async () => {
    const { judged, clock } = check({ [ownRoute]: gcl(OWN, 0), [keyRoute]: gcl(KEY, 0) });
    expect(await judged).toMatchObject({
      verdict: 'pass',
      reason: `active slots back to what they were before the burst (${OWN} 0 -> 0, ${KEY} 0 -> 0)`,
    });
    expect(clock.sleeps).toEqual([]);
  });

  it('waits, polling every 2 s, for slots that come back late', async () => {
    const { judged, clock } = check({
      [ownRoute]: gcl(OWN, 0),
      [keyRoute]: [gcl(KEY, 2), gcl(KEY, 2), gcl(KEY, 2), gcl(KEY, 0)],
    });
    expect(await judged).toMatchObject({ verdict: 'pass', reason: expect.stringContaining('after 6 s') });
    expect(clock.sleeps).toEqual([2000, 2000, 2000]);
  });

  it("fails slots still held at the bound (the server's lease plus a minute), naming them orphaned", async () => {
    const { judged, clock, ctx } = check({
      [ownRoute]: gcl(OWN, 0),
      [keyRoute]: gcl(KEY, 2),
      'POST /flow_runs/filter': { status: 200, text: '[]' },
    });
    const result = await judged;
    if (!result) throw new Error('no slots.released check');
    expect(result.verdict).toBe('fail');
    expect(result.reason).toMatch(
      new RegExp(
        `^${KEY} holds 2 more than before \\(0 -> 2\\) after 360 s \\(bound 360 s\\): the next rehearsal would wait for them; no live run of the deployment holds them: orphaned`,
      ),
    );
    expect(result.reason).toContain('`rehearse cleanup` gives back slots no live run holds');
    expect(clock.sleeps.reduce((a, b) => a + b, 0)).toBe(360_000);
    // Progress while it waits, about every 15 s.
    const waits = ctx.reporter.events.filter((e) => e.type === 'waiting');
    expect(waits.length).toBeGreaterThanOrEqual(20);
  });

  it('after a fault restarted the server, fails held slots within 15 s, saying their leases went with it', async () => {
    const { judged, clock } = check(
      { [ownRoute]: gcl(OWN, 0), [keyRoute]: gcl(KEY, 2), 'POST /flow_runs/filter': { status: 200, text: '[]' } },
      { serverRestartedAt: '2026-12-06T14:17:08.733Z' },
    );
    const result = await judged;
    expect(result?.verdict).toBe('fail');
    expect(result?.reason).toContain('(bound 15 s)');
    expect(result?.reason).toContain(
      'the server restarted at 2026-12-06T14:17:08.733Z and Prefect keeps concurrency leases in memory by default',
    );
    expect(result?.reason).toContain('`rehearse cleanup` gives back slots no live run holds');
    expect(clock.sleeps.reduce((a, b) => a + b, 0)).toBe(16_000);
  });

  it('takes its bound from the configuration, and reads no server setting then', async () => {
    const { judged, api } = check(
      { [ownRoute]: gcl(OWN, 1), [keyRoute]: gcl(KEY, 0), 'POST /flow_runs/filter': { status: 200, text: '[]' } },
      { config: { timeouts: { slotReleaseSeconds: 10 } } },
    );
    expect((await judged)?.reason).toContain('after 10 s (bound 10 s)');
    expect(api.requests.map((r) => r.path)).not.toContain('/admin/settings');
  });

  it('is inconclusive, without waiting, while rehearsal runs are not final', async () => {
    const { judged, clock } = check({ [ownRoute]: gcl(OWN, 1), [keyRoute]: gcl(KEY, 2) }, { unfinished: 1 });
    expect(await judged).toMatchObject({ verdict: 'inconclusive' });
    expect(clock.sleeps).toEqual([]);
  });

  it('judges nothing for a bundle whose run step recorded no slots before its burst', async () => {
    const api = createFakeApi({});
    const ctx = createTestContext({ runner: createFakeRunner([]), api });
    expect(await checkSlotsReleased(ctx, undefined, DEPLOYMENT, 0)).toBeUndefined();
    expect(api.requests).toEqual([]);
  });
});
