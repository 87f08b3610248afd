import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { SLOT_HISTORY_FILE, STATE_HISTORY_FILE } from '../../../../src/bundle/files.js';
import { SlotHistoryFileSchema, StateHistoryFileSchema } from '../../../../src/bundle/state-history.js';
import { validateStep } from '../../../../src/steps/validate/validate.js';
import { type FakeRoutes, recorded, recordedRoutes } from '../../../support/fake-api.js';
import { LIMITED_BURST, recordedEventsRoute, recordedRuns, stateHistoryOf } from '../../../support/recorded-runs.js';
import { afterRunStep, runStepsOver, useTempBundle } from '../../support/step-context.js';

const NOW = new Date('2026-11-26T02:00:00Z');
const AS_OF = '2026-11-26T01:29:05.000Z';
const RUNS = recordedRuns(LIMITED_BURST);

/** The recorded server: the burst's runs, each one's state history, and the concurrency-limit events. */
function routes(poolLimit?: number): FakeRoutes {
  const pool = {
    ...JSON.parse(recorded('work-pool.api.json')),
    ...(poolLimit ? { concurrency_limit: poolLimit } : {}),
  };
  return {
    ...recordedRoutes(),
    'GET /work_pools/hotpass-backfill-pool': { status: 200, text: JSON.stringify(pool) },
    'POST /events/filter': recordedEventsRoute(),
    'POST /flow_runs/filter': { status: 200, text: recorded(LIMITED_BURST) },
    ...Object.fromEntries(
      RUNS.map((r) => [
        `GET /flow_run_states/?flow_run_id=${r.id}`,
        { status: 200, text: recorded(`flow-run-states.${r.id}.json`) },
      ]),
    ),
  };
}

const temp = useTempBundle('rehearse-validate-evidence-', NOW);

async function validate(flowRunIds: string[] = [], options: { poolLimit?: number; dryRun?: boolean } = {}) {
  const { outcome, reporter } = await runStepsOver(
    temp.bundle,
    [validateStep({ flowRunIds, allRuns: false })],
    afterRunStep(temp.bundle, NOW),
    { now: NOW, cwd: temp.root, routes: routes(options.poolLimit), flags: { dryRun: options.dryRun ?? false } },
  );
  return { ...outcome, events: reporter.events };
}

const read = async (rel: string): Promise<unknown> =>
  JSON.parse(await readFile(path.join(temp.bundle.dir, rel), 'utf8'));

describe('the evidence files validate reads and writes, each against the schema of its writer', () => {
  it('refuses a stored state-history.json whose run has a state without a time, naming the field (exit 2)', async () => {
    const history = stateHistoryOf(LIMITED_BURST, AS_OF);
    const { timestamp: _dropped, ...untimed } = history.runs[1]?.states[0] ?? { timestamp: '' };
    await writeFile(
      path.join(temp.bundle.dir, STATE_HISTORY_FILE),
      JSON.stringify({ ...history, runs: history.runs.map((r, i) => (i === 1 ? { ...r, states: [untimed] } : r)) }),
    );
    const outcome = await validate();
    expect(outcome.error).toMatchObject({
      code: 'BUNDLE_INVALID',
      message: `state-history.json of bundle ${temp.bundle.name} is not what rehearse wrote (runs.1.states.0.timestamp: Invalid input: expected string, received undefined)`,
      hint: 'rerun `rehearse capture` on this bundle, or read the histories again with --flow-run ID or --all-runs',
    });
    // Bad input, nothing judged: the bundle is left as it was.
    expect(outcome).toMatchObject({ exitCode: 2, untouched: true });
  });

  it('refuses a stored state-history.json cut short, as not JSON', async () => {
    const text = JSON.stringify(stateHistoryOf(LIMITED_BURST, AS_OF), null, 2);
    await writeFile(path.join(temp.bundle.dir, STATE_HISTORY_FILE), text.slice(0, text.length / 2));
    const { error } = await validate();
    expect(error?.code).toBe('BUNDLE_INVALID');
    expect(error?.message).toMatch(
      new RegExp(`^state-history\\.json of bundle ${temp.bundle.name} is not what rehearse wrote \\(not JSON: `),
    );
  });

  it("refuses runs not marked as the rehearsal's or another's: the stuck-run check rests on the mark", async () => {
    const history = stateHistoryOf(LIMITED_BURST, AS_OF);
    const unmarked = { ...history, runs: history.runs.map(({ rehearsal: _mark, ...run }) => run) };
    await writeFile(path.join(temp.bundle.dir, STATE_HISTORY_FILE), JSON.stringify(unmarked));
    const { error } = await validate();
    expect(error?.message).toContain('(runs.0.rehearsal: Invalid input: expected boolean, received undefined)');
  });

  it('writes state-history.json and slot-history.json that the exported schemas read back', async () => {
    const { summary } = await validate(RUNS.map((r) => r.id));
    const step = summary.steps.find((s) => s.name === 'validate');
    expect(step?.status).toBe('ok');
    expect(step?.files).toContain(STATE_HISTORY_FILE);
    expect(step?.files).toContain(SLOT_HISTORY_FILE);
    const history = StateHistoryFileSchema.parse(await read(STATE_HISTORY_FILE));
    expect(history.runs.map((r) => r.runId).sort()).toEqual(RUNS.map((r) => r.id).sort());
    expect(history.runs.every((r) => r.rehearsal)).toBe(true);
    const slots = SlotHistoryFileSchema.parse(await read(SLOT_HISTORY_FILE));
    expect(slots).toMatchObject({ limit: 'hotpass-backfill', occupy: 1 });
  });
});

describe('validate in a dry run', () => {
  it('judges named runs, but prints the task it would add to Next_Steps.md instead of adding it', async () => {
    const { summary, events } = await validate(
      RUNS.map((r) => r.id),
      { poolLimit: 1, dryRun: true },
    );
    const step = summary.steps.find((s) => s.name === 'validate');
    expect(step?.checks.find((c) => c.id === 'concurrency.work_pool_limit')?.verdict).toBe('fail');
    const planned = events.filter((e) => e.type === 'command-start' && e.dryRun);
    expect(planned).toEqual([
      {
        type: 'command-start',
        step: 'validate',
        display: expect.stringMatching(
          /^append a task to Next_Steps\.md: release halted \(.*concurrency\.work_pool_limit/,
        ),
        dryRun: true,
      },
    ]);
    expect(await readdir(temp.root)).not.toContain('Next_Steps.md');
  });

  it('adds that task when it is no dry run', async () => {
    const { events } = await validate(
      RUNS.map((r) => r.id),
      { poolLimit: 1 },
    );
    expect(events.some((e) => e.type === 'command-start' && e.dryRun)).toBe(false);
    expect(await readFile(path.join(temp.root, 'Next_Steps.md'), 'utf8')).toContain('Backfill guardrail violated');
  });
});
