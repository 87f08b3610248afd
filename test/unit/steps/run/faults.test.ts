import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { FAULTS_FILE } from '../../../../src/bundle/files.js';
import { NOTES_FILE } from '../../../../src/bundle/notes.js';
import { newSummary } from '../../../../src/bundle/summary-io.js';
import type { ApiRequest } from '../../../../src/prefect/api.js';
import { runStep } from '../../../../src/steps/run/run.js';
import { runSteps } from '../../../../src/steps/runner.js';
import { createTestContext } from '../../../support/context.js';
import {
  createFakeApi,
  type FakeApi,
  recorded,
  recordedDeployment,
  recordedRoutes,
} from '../../../support/fake-api.js';
import { createFakeRunner } from '../../../support/fake-runner.js';
import { LIMITED_BURST, type RecordedRun, recordedRuns, recordedStates } from '../../../support/recorded-runs.js';
import { createFakeClock } from '../../support/fake-clock.js';
import { useTempBundle } from '../../support/step-context.js';

const NOW = new Date('2026-11-26T01:20:00Z');
const RUN_ARGV = ['uv', 'run', 'prefect', 'deployment', 'run', 'hotpass-backfill/hotpass-backfill'];
const CREATE_PATH = `/deployments/${recordedDeployment().id as string}/create_flow_run`;
const BURST = recordedRuns(LIMITED_BURST);
const CLI_RUN = '5162db9a-b77d-488c-9971-6472528d5ee4';
const created = BURST.filter((r) => r.id !== CLI_RUN);

const asCreated = (run: RecordedRun): string =>
  JSON.stringify({ ...run, state_type: 'SCHEDULED', state_name: 'Scheduled', state: recordedStates(run.id)[0] });

/**
 * The recorded burst, every run RUNNING until rehearse cancels one; from then on the burst as recorded
 * (Completed), but for the run it cancelled, now Cancelled.
 */
function serverWithAFault() {
  let hit: string | undefined;
  const runs = () =>
    BURST.map((r) =>
      hit === undefined
        ? { ...r, state_type: 'RUNNING', state_name: 'Running', end_time: null }
        : r.id === hit
          ? { ...r, state_type: 'CANCELLED', state_name: 'Cancelled' }
          : r,
    );
  const setState = (request: ApiRequest) => {
    hit = request.path.split('/')[2];
    return { status: 201, text: '{"status":"ACCEPT"}' };
  };
  return createFakeApi({
    ...recordedRoutes(),
    [`POST ${CREATE_PATH}`]: created.map((r) => ({ status: 201, text: asCreated(r) })),
    // As the server does: by id when asked by id (the cancel asks for its one run), else the whole burst.
    'POST /flow_runs/filter': (request) => {
      const ids = (request.body as { flow_runs?: { id?: { any_?: string[] } } }).flow_runs?.id?.any_;
      return { status: 200, text: JSON.stringify(runs().filter((r) => !ids || ids.includes(r.id))) };
    },
    ...Object.fromEntries(created.map((r) => [`POST /flow_runs/${r.id}/set_state`, setState])),
  });
}

const temp = useTempBundle('rehearse-run-faults-', NOW);

/**
 * The run step alone, bursting 3 runs with one cancel-run fault at first-running, against `api` (the CLI's
 * `deployment run` answered as recorded, time simulated): the outcome and the run step's record.
 */
async function runStepCancellingOneRun(api: FakeApi, timeouts?: { watchSeconds: number }) {
  const runner = createFakeRunner([
    { match: RUN_ARGV, result: { exitCode: 0, stdout: recorded('deployment.run.stdout'), stderr: '' } },
  ]);
  const base = createTestContext({
    runner,
    api,
    now: () => NOW,
    config: { run: { burst: 3 }, timeouts, faults: [{ kind: 'cancel-run', at: 'first-running' }] },
  });
  const outcome = await runSteps(
    { ...base, clock: createFakeClock() },
    temp.bundle,
    [runStep({ defaultBurst: 'one', openPage: async () => undefined })],
    newSummary(temp.bundle, NOW, {}),
    { wholeRehearsal: false },
  );
  return { outcome, step: outcome.summary.steps.find((s) => s.name === 'run') };
}

describe('the run step with a fault', () => {
  it('cancels one RUNNING run once, excuses it, and keeps faults.json and a Faults section', async () => {
    const api = serverWithAFault();
    const { outcome, step } = await runStepCancellingOneRun(api);
    const cancels = api.requests.filter((r) => r.path.endsWith('/set_state'));
    expect(cancels).toHaveLength(1);
    const target = cancels[0]?.path.split('/')[2];
    expect(target).not.toBe(CLI_RUN);
    const verdicts = Object.fromEntries((step?.checks ?? []).map((c) => [c.id, c.verdict]));
    expect(verdicts).toEqual({
      'runs.completed': 'pass',
      'faults.1.cancel-run': 'pass',
      'faults.untouched_completed': 'pass',
    });
    expect(step?.files).toContain(FAULTS_FILE);
    const faults = JSON.parse(await readFile(path.join(temp.bundle.dir, FAULTS_FILE), 'utf8'));
    expect(faults.faults).toMatchObject([
      {
        kind: 'cancel-run',
        moment: 'first-running',
        status: 'injected',
        target: { id: target },
        injectedAt: NOW.toISOString(),
        action: { apiStatus: 201, state: 'CANCELLING' },
        recovery: { hitRunFinalState: 'Cancelled' },
      },
    ]);
    expect(faults.rollback).toMatchObject({ runsCancelled: [], pending: expect.stringContaining('validate') });
    expect(await readFile(path.join(temp.bundle.dir, NOTES_FILE), 'utf8')).toContain('## Faults');
    expect(outcome.exitCode).toBe(0);
  });

  it('rolls back when the runs never end: the rest cancelled, the held slot freed, faults.json says so', async () => {
    const cancelled = new Set<string>();
    const runs = () =>
      BURST.map((r) =>
        cancelled.has(r.id)
          ? { ...r, state_type: 'CANCELLED', state_name: 'Cancelled' }
          : { ...r, state_type: 'RUNNING', state_name: 'Running', end_time: null },
      );
    const setState = (request: ApiRequest) => {
      cancelled.add(request.path.split('/')[2] as string);
      return { status: 201, text: '{"status":"ACCEPT"}' };
    };
    const key = JSON.parse(recorded('gcl.json')) as { id: string };
    const api = createFakeApi({
      ...recordedRoutes(),
      'GET /v2/concurrency_limits/hotpass-backfill': {
        status: 200,
        text: JSON.stringify({ ...JSON.parse(recorded('gcl.json')), active_slots: 1 }),
      },
      [`PATCH /v2/concurrency_limits/${key.id}`]: { status: 204, text: '' },
      [`POST ${CREATE_PATH}`]: created.map((r) => ({ status: 201, text: asCreated(r) })),
      'POST /flow_runs/filter': (request) => {
        const body = request.body as { flow_runs?: { id?: { any_?: string[] }; state?: unknown } };
        const ids = body.flow_runs?.id?.any_;
        // Once cancelled, no run is live: the slot is no one's.
        if (body.flow_runs?.state) return { status: 200, text: '[]' };
        return { status: 200, text: JSON.stringify(runs().filter((r) => !ids || ids.includes(r.id))) };
      },
      ...Object.fromEntries(BURST.map((r) => [`POST /flow_runs/${r.id}/set_state`, setState])),
    });
    const { step } = await runStepCancellingOneRun(api, { watchSeconds: 30 });
    expect(step?.error?.code).toBe('TIMEOUT');
    expect(step?.files).toContain(FAULTS_FILE);
    const faults = JSON.parse(await readFile(path.join(temp.bundle.dir, FAULTS_FILE), 'utf8'));
    expect(faults.faults).toMatchObject([{ kind: 'cancel-run', status: 'injected' }]);
    expect(faults.rollback.runsCancelled).toHaveLength(2);
    expect(faults.rollback.slots).toContainEqual({ limit: 'hotpass-backfill', activeSlots: 1, action: 'freed' });
    expect(
      api.requests.filter((r) => r.method === 'PATCH' && r.path.startsWith('/v2/concurrency_limits/')),
    ).toHaveLength(1);
    expect(faults.rollback.pending).toBeUndefined();
  });
});
