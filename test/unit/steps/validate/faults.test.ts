import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { FAULTS_FILE } from '../../../../src/bundle/files.js';
import type { Check } from '../../../../src/guardrails/verdict.js';
import { DeploymentSchema } from '../../../../src/prefect/schemas.js';
import { settleFaults } from '../../../../src/steps/validate/faults.js';
import { createTestContext } from '../../../support/context.js';
import { createFakeApi, recorded, recordedDeployment, recordedRoutes } from '../../../support/fake-api.js';
import { createFakeRunner } from '../../../support/fake-runner.js';
import { createFakeClock } from '../../support/fake-clock.js';
import { useTempBundle } from '../../support/step-context.js';

const NOW = new Date('2026-11-26T01:30:00Z');
const temp = useTempBundle('rehearse-validate-faults-', NOW);
const deployment = DeploymentSchema.parse(recordedDeployment());
const KEY = JSON.parse(recorded('gcl.json')) as { id: string };

const released: Check = {
  id: 'slots.released',
  step: 'validate',
  title: 'every slot the rehearsal took came back',
  verdict: 'fail',
  reason: 'hotpass-backfill holds 1 more than before (0 -> 1) after 5 s (bound 5 s)',
};

describe('validate settles a fault rehearsal: the slots judged first, then given back', () => {
  it('records slots.released in faults.json, then frees the slot no live run holds, saying so', async () => {
    await writeFile(
      path.join(temp.bundle.dir, FAULTS_FILE),
      JSON.stringify({
        faults: [
          { kind: 'cancel-run', moment: 'limit-reached', status: 'injected', injectedAt: '2026-11-26T01:29:00Z' },
        ],
        rollback: { at: '2026-11-26T01:29:30Z', runsCancelled: [], slots: [], pending: 'validate frees slots' },
      }),
    );
    const api = createFakeApi({
      ...recordedRoutes(),
      'GET /v2/concurrency_limits/hotpass-backfill': {
        status: 200,
        text: JSON.stringify({ ...JSON.parse(recorded('gcl.json')), active_slots: 1 }),
      },
      'POST /flow_runs/filter': { status: 200, text: '[]' },
      [`PATCH /v2/concurrency_limits/${KEY.id}`]: { status: 204, text: '' },
    });
    const base = createTestContext({ runner: createFakeRunner([]), api, now: () => NOW });
    const clock = createFakeClock(NOW.getTime());
    const files = await settleFaults({ ...base, clock }, temp.bundle, deployment, released, NOW.getTime() - 5_000);
    expect(files).toEqual([FAULTS_FILE]);
    const file = JSON.parse(await readFile(path.join(temp.bundle.dir, FAULTS_FILE), 'utf8'));
    expect(file.slotsReleased).toEqual({ verdict: 'fail', reason: released.reason, validateWaitedSeconds: 5 });
    expect(file.rollback).toEqual({
      at: NOW.toISOString(),
      runsCancelled: [],
      slots: [{ limit: 'hotpass-backfill', activeSlots: 1, action: 'freed' }],
    });
    const patches = api.requests.filter((r) => r.method === 'PATCH');
    expect(patches).toMatchObject([{ path: `/v2/concurrency_limits/${KEY.id}`, body: { active_slots: 0 } }]);
  });

  it('does nothing for a rehearsal without faults', async () => {
    const api = createFakeApi({});
    const base = createTestContext({ runner: createFakeRunner([]), api, now: () => NOW });
    expect(await settleFaults(base, temp.bundle, deployment, released, 0)).toEqual([]);
    expect(api.requests).toEqual([]);
  });

  it('refuses a faults.json that is not what rehearse wrote', async () => {
    await writeFile(path.join(temp.bundle.dir, FAULTS_FILE), JSON.stringify({ faults: [{ kind: 'kill-everything' }] }));
    const base = createTestContext({ runner: createFakeRunner([]), api: createFakeApi({}), now: () => NOW });
    await expect(settleFaults(base, temp.bundle, deployment, released, 0)).rejects.toMatchObject({
      code: 'BUNDLE_INVALID',
      message: expect.stringContaining('faults.json of bundle'),
    });
  });
});
