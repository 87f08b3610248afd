import { describe, expect, it } from 'vitest';
import { RehearseError } from '../../../src/errors.js';
import type { ApiRequest } from '../../../src/prefect/api.js';
import { readDeployment, resolveDeploymentName } from '../../../src/prefect/queries.js';
import { createFakeApi, type FakeResponse, recordedDeployment } from '../../support/fake-api.js';

const deployment = recordedDeployment();
const FLOW = { id: deployment.flow_id, name: 'hotpass-backfill' };

/** The recorded server: a filter by name finds nothing, a listing answers `listed`. */
function serverWith(listed: Record<string, unknown>[]) {
  const filter = (request: ApiRequest): FakeResponse => {
    const byName = (request.body as { deployments?: unknown }).deployments !== undefined;
    return { status: 200, text: JSON.stringify(byName ? [] : listed) };
  };
  return createFakeApi({
    'POST /deployments/filter': filter,
    'POST /flows/filter': { status: 200, text: JSON.stringify([FLOW]) },
  });
}

async function refusal(attempt: Promise<unknown>): Promise<RehearseError> {
  const error = await attempt.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(RehearseError);
  return error as RehearseError;
}

describe('an unknown deployment', () => {
  it('is answered with the deployments the server has, as flow/deployment, in the hint every reporter shows', async () => {
    const api = serverWith([deployment, { ...deployment, id: 'f1e2', name: 'nightly' }]);
    const error = await refusal(resolveDeploymentName(api, 'hotpass-backfil'));
    expect(error.code).toBe('NOT_FOUND');
    expect(error.message).toBe("no deployment named 'hotpass-backfil' on this server");
    expect(error.hint).toContain(
      'one of the deployments on this server: hotpass-backfill/hotpass-backfill, hotpass-backfill/nightly',
    );
  });

  it('says the server has none, rather than pointing at a list that is empty', async () => {
    const error = await refusal(resolveDeploymentName(serverWith([]), 'hotpass-backfill'));
    expect(error.hint).toContain('this server has no deployment at all');
    expect(error.hint).not.toContain('one of');
  });

  it('lists them too for a flow/deployment name the server does not know', async () => {
    const error = await refusal(readDeployment(serverWith([deployment]), { flow: 'hotpass', deployment: 'backfill' }));
    expect(error.message).toContain('deployment hotpass/backfill does not exist');
    expect(error.hint).toContain('hotpass-backfill/hotpass-backfill');
  });

  it('says there are more than it shows', async () => {
    const many = Array.from({ length: 25 }, (_, i) => ({ ...deployment, id: `d-${i}`, name: `d${i}` }));
    const error = await refusal(resolveDeploymentName(serverWith(many), 'x'));
    expect(error.hint).toContain('hotpass-backfill/d19, and more');
    expect(error.hint).not.toContain('d20');
  });
});
