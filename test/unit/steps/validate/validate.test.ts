import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { SLOT_HISTORY_FILE, WORK_POOL_FILE } from '../../../../src/bundle/files.js';
import { NOTES_FILE } from '../../../../src/bundle/notes.js';
import type { BundleStatus, Summary } from '../../../../src/bundle/summary.js';
import type { ConfigInput } from '../../../../src/config/schema.js';
import type { ApiRequest } from '../../../../src/prefect/api.js';
import type { StateHistoryFile } from '../../../../src/steps/capture/histories.js';
import { validateStep } from '../../../../src/steps/validate/validate.js';
import {
  type FakeResponse,
  type FakeRoutes,
  NOT_FOUND,
  recorded,
  recordedDeployment,
  recordedRoutes,
} from '../../../support/fake-api.js';
import { LIMITED_BURST, recordedEventsRoute, recordedRuns, UNLIMITED_BURST } from '../../../support/recorded-runs.js';
import { afterCapture, afterRunStep, type Burst, runStepsOver, useTempBundle } from '../../support/step-context.js';

const NOW = new Date('2026-11-26T02:00:00Z');
const NEXT_STEPS = 'Next_Steps.md';
const POOL_ROUTE = 'GET /work_pools/hotpass-backfill-pool';
const GCL_ROUTE = 'GET /v2/concurrency_limits/hotpass-backfill';

const withJson = (text: string, change: (value: Record<string, unknown>) => void): string => {
  const value = JSON.parse(text) as Record<string, unknown>;
  change(value);
  return JSON.stringify(value);
};

/** The recorded server, with the concurrency-limit events it recorded. */
const limitedRoutes = (): FakeRoutes => ({ ...recordedRoutes(), 'POST /events/filter': recordedEventsRoute() });

/** The server as it was during the burst of 4: deployment and pool at 4, the global limit inactive. */
function unlimitedRoutes(): FakeRoutes {
  const deployment = recordedDeployment();
  (deployment.global_concurrency_limit as { limit: number }).limit = 4;
  return {
    ...recordedRoutes({ deploymentText: JSON.stringify(deployment) }),
    [POOL_ROUTE]: {
      status: 200,
      text: withJson(recorded('work-pool.api.json'), (p) => {
        p.concurrency_limit = 4;
      }),
    },
    [GCL_ROUTE]: {
      status: 200,
      text: withJson(recorded('gcl.json'), (g) => {
        g.active = false;
      }),
    },
    'POST /events/filter': recordedEventsRoute(),
  };
}

const temp = useTempBundle('rehearse-validate-', NOW);

/** A bundle after run and capture of a recorded burst: the run step's record and state-history.json. */
async function capturedBundle(burst: Burst, status?: BundleStatus): Promise<Summary> {
  const summary = await afterCapture(temp.bundle, NOW, burst);
  return status ? { ...summary, status } : summary;
}

/** `rehearse validate` on the bundle, started in `temp.root` (where Next_Steps.md lives). */
async function validate(routes: FakeRoutes, initial: Summary, config?: ConfigInput) {
  const steps = [validateStep({ flowRunIds: [], allRuns: false })];
  const { outcome, api, reporter } = await runStepsOver(temp.bundle, steps, initial, {
    now: NOW,
    cwd: temp.root,
    routes,
    config,
  });
  const step = outcome.summary.steps.find((s) => s.name === 'validate');
  if (!step) throw new Error('runSteps recorded no validate step');
  const verdicts = Object.fromEntries(step.checks.map((c) => [c.id, c.verdict]));
  return { outcome, step, verdicts, api, reporter };
}

/** The bundle's state-history.json with only `own` marked as the rehearsal's: the rest another rehearsal's. */
async function markOwn(own: (runName: string | undefined) => boolean): Promise<void> {
  const file = path.join(temp.bundle.dir, 'state-history.json');
  const history = JSON.parse(await readFile(file, 'utf8')) as StateHistoryFile;
  for (const run of history.runs) run.rehearsal = own(run.runName);
  history.rehearsalRunIds = history.runs.filter((r) => r.rehearsal).map((r) => r.runId);
  await writeFile(file, `${JSON.stringify(history, null, 2)}\n`);
}

const openTasks = async (): Promise<string[]> =>
  (await readFile(path.join(temp.root, NEXT_STEPS), 'utf8')).split('\n').filter((line) => line.startsWith('- [ ]'));

describe('the validate step, on recorded state histories and concurrency-limit events', () => {
  it('passes every limit the recorded burst of 3 was held to (peak 2 under limit 2), and adds no task', async () => {
    const { outcome, step, verdicts } = await validate(limitedRoutes(), await capturedBundle(LIMITED_BURST));

    expect(outcome.error).toBeUndefined();
    expect(verdicts).toEqual({
      'concurrency.manifest_limit': 'pass',
      'concurrency.deployment_limit': 'pass',
      'concurrency.work_pool_limit': 'pass',
      'concurrency.global_limit': 'pass',
      'runs.settled': 'pass',
    });
    expect(step.data).toMatchObject({ peak: 2, holderPeak: 2, occupy: 1, submitted: 3 });
    expect(step.checks.find((c) => c.id === 'concurrency.manifest_limit')?.reason).toBe(
      "peak 2 runs RUNNING reached the manifest's deployment limit of 2 and never exceeded it (3 submitted) | peak 2 slots occupied reached the manifest's key limit of 2 and never exceeded it (3 submitted); each run occupies 1 of the 2 slot(s)",
    );
    expect(step.checks.find((c) => c.id === 'concurrency.global_limit')?.reason).toBe(
      'peak 2 slots occupied reached the global limit hotpass-backfill of 2 and never exceeded it (3 submitted); each run occupies 1 of the 2 slot(s)',
    );
    expect(step.files).toEqual([WORK_POOL_FILE, SLOT_HISTORY_FILE, NOTES_FILE]);
    // The occupied slots, as the report draws them: each holder's interval from the recorded events.
    const slots = JSON.parse(await readFile(path.join(temp.bundle.dir, SLOT_HISTORY_FILE), 'utf8'));
    expect(slots).toMatchObject({ limit: 'hotpass-backfill', occupy: 1 });
    expect(slots.runs.length).toBeGreaterThanOrEqual(3);
    await expect(readFile(path.join(temp.root, NEXT_STEPS), 'utf8')).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it("never credits a rehearsal with another rehearsal's runs: a burst of 1 beside a burst of 2 is inconclusive", async () => {
    const summary = await capturedBundle(LIMITED_BURST);
    // weightless-pronghorn overlapped another run: alone it could never fill the limit of 2.
    await markOwn((name) => name === 'weightless-pronghorn');
    const { outcome, verdicts, step } = await validate(limitedRoutes(), summary);

    expect(outcome.exitCode).toBe(4);
    expect(verdicts).toEqual({
      'concurrency.manifest_limit': 'inconclusive',
      'concurrency.deployment_limit': 'inconclusive',
      'concurrency.work_pool_limit': 'inconclusive',
      'concurrency.global_limit': 'inconclusive',
      'runs.settled': 'pass',
    });
    const reason = step.checks.find((c) => c.id === 'concurrency.deployment_limit')?.reason ?? '';
    expect(reason).toMatch(
      /^peak 2 runs RUNNING reached the deployment limit of 2, but this rehearsal's own 1 run\(s\) could not fill 2 alone; 1 other run\(s\) of the deployment ran beside them and count towards the peak: antique-eel;/,
    );
    expect(reason).toContain('rerun it alone with --burst 3');
    // The peak still counts them: a violation with other runs' help is a violation.
    expect(step.data).toMatchObject({ peak: 2, submitted: 1 });
  });

  it('judges a limit nothing enforces inconclusive, never pass', async () => {
    const routes: FakeRoutes = {
      ...limitedRoutes(),
      [POOL_ROUTE]: {
        status: 200,
        text: withJson(recorded('work-pool.api.json'), (p) => {
          p.concurrency_limit = null;
        }),
      },
      [GCL_ROUTE]: NOT_FOUND,
    };
    const { step, verdicts, api } = await validate(routes, await capturedBundle(LIMITED_BURST));

    // The key's promise cannot be shown without the limit: no run acquired a slot.
    // A pool with no limit that nothing promises is no guardrail of this rehearsal: no check at all.
    expect(verdicts).toEqual({
      'concurrency.manifest_limit': 'inconclusive',
      'concurrency.deployment_limit': 'pass',
      'concurrency.global_limit': 'inconclusive',
      'runs.settled': 'pass',
    });
    expect(step.checks.find((c) => c.id === 'concurrency.manifest_limit')?.reason).toContain(
      "peak 0 slots occupied under the manifest's key limit of 2 although 3 run(s) were submitted: no run acquired a slot of it",
    );
    // Expected by the configuration, the missing pool limit is judged: never a pass.
    const expecting = await validate(routes, await capturedBundle(LIMITED_BURST), { expect: { workPoolLimit: 2 } });
    expect(expecting.step.checks.find((c) => c.id === 'concurrency.work_pool_limit')).toMatchObject({
      verdict: 'inconclusive',
      reason: 'work pool hotpass-backfill-pool has no limit: nothing to measure against (peak 2 runs RUNNING)',
    });
    expect(step.checks.find((c) => c.id === 'concurrency.global_limit')?.reason).toContain(
      'global limit hotpass-backfill does not exist',
    );
    expect(api.requests.map((r) => r.path)).not.toContain('/events/filter');
  });

  it("fails the manifest's limit on the recorded burst of 4, naming the runs, and files exactly one task however often it runs", async () => {
    const first = await validate(unlimitedRoutes(), await capturedBundle(UNLIMITED_BURST));

    expect(first.outcome.exitCode).toBe(1);
    // The loosened limits were reached (peak 4 of 4) and held; the manifest's 2 was not.
    expect(first.verdicts).toEqual({
      'concurrency.manifest_limit': 'fail',
      'concurrency.deployment_limit': 'pass',
      'concurrency.work_pool_limit': 'pass',
      'concurrency.global_limit': 'inconclusive',
      'runs.settled': 'pass',
    });
    const manifest = first.step.checks.find((c) => c.id === 'concurrency.manifest_limit');
    expect(manifest?.expected).toEqual({ runsRunning: 2, slotsOccupied: 2 });
    // The peak's own window, not the 3-run windows merely above the limit.
    expect(manifest?.reason).toMatch(
      /^4 runs RUNNING at once, manifest's deployment limit 2; at the peak: 2026-11-26T01:49:36.718418Z\.\.2026-11-26T01:49:48.590945Z: beautiful-muskox, spicy-dragon, overjoyed-rattlesnake, fast-ammonite; above the limit in 3 window\(s\)/,
    );
    expect(first.step.data).toMatchObject({ peak: 4, submitted: 4, holderPeak: 0 });

    const tasks = await openTasks();
    expect(tasks).toHaveLength(1);
    expect(tasks[0]).toContain(
      `Backfill guardrail violated in staging rehearsal ${temp.bundle.name} (hotpass-backfill/hotpass-backfill)`,
    );
    expect(tasks[0]).toContain(
      '<!-- rehearse:violation:hotpass-backfill/hotpass-backfill:concurrency.manifest_limit -->',
    );
    expect(tasks[0]).toContain("(4 runs RUNNING at once, manifest's deployment limit 2)");
    // The link resolves from where Next_Steps.md lives.
    const link = /\]\(([^)]+notes\.md)\)/.exec(tasks[0] ?? '')?.[1] ?? '';
    expect(link).toBe(`dist/staging/backfill/${temp.bundle.name}/notes.md`);
    expect(await readFile(path.resolve(temp.root, link), 'utf8')).toContain('Validate: measured concurrency');
    expect(await readFile(path.join(temp.bundle.dir, NOTES_FILE), 'utf8')).toContain(
      `Release halted: added a task to ${NEXT_STEPS}.`,
    );

    const second = await validate(unlimitedRoutes(), first.outcome.summary);
    expect(second.verdicts['concurrency.manifest_limit']).toBe('fail');
    expect(await openTasks()).toEqual(tasks);
    expect(second.reporter.events).toContainEqual({
      type: 'warn',
      message: `release halted: an open task in ${NEXT_STEPS} already tracks this`,
    });
  });

  it('is inconclusive, never pass, on a bundle whose rehearsal was interrupted', async () => {
    const { outcome, step, verdicts } = await validate(
      limitedRoutes(),
      await capturedBundle(LIMITED_BURST, 'interrupted'),
    );

    expect(verdicts['evidence.complete']).toBe('inconclusive');
    expect(step.checks.filter((c) => c.id !== 'evidence.complete').map((c) => c.verdict)).toEqual(
      Array(5).fill('pass'),
    );
    expect(step.verdict).toBe('inconclusive');
    expect(outcome.exitCode).toBe(4);
    expect([outcome.summary.status, outcome.summary.verdict]).toEqual(['interrupted', 'incomplete']);
  });
});

describe("the validate step reads only the rehearsal's runs and window, whatever the server ran before", () => {
  it("bounds every read of runs to the rehearsal's ids or the deployment from its start, and events to its window", async () => {
    const runs = recordedRuns(LIMITED_BURST);
    const ids = runs.map((r) => r.id);
    // Earlier runs of the deployment and of others, open and final: the server answers only what a filter bounds.
    const earlier = Array.from({ length: 500 }, (_, i) => ({
      ...runs[0],
      id: `earlier-${i}`,
      deployment_id: i % 2 ? runs[0]?.deployment_id : 'another-deployment',
      state_type: i % 3 ? 'COMPLETED' : 'RUNNING',
      start_time: '2026-11-01T00:00:00Z',
    }));
    const answer = (request: ApiRequest): FakeResponse => {
      const filter = (request.body as { flow_runs: Record<string, { any_?: string[]; after_?: string }> }).flow_runs;
      const picked = [...runs, ...earlier].filter(
        (r) =>
          (!filter.id?.any_ || filter.id.any_.includes(String(r.id))) &&
          (!filter.deployment_id?.any_ || filter.deployment_id.any_.includes(String(r.deployment_id))) &&
          (!filter.start_time?.after_ || String(r.start_time) >= filter.start_time.after_),
      );
      return { status: 200, text: JSON.stringify(picked.slice(0, 200)) };
    };
    const states = Object.fromEntries(
      ids.map((id) => [
        `GET /flow_run_states/?flow_run_id=${id}`,
        { status: 200, text: recorded(`flow-run-states.${id}.json`) },
      ]),
    );
    const summary = afterRunStep(temp.bundle, NOW, LIMITED_BURST);
    const { outcome, api } = await validate(
      { ...limitedRoutes(), ...states, 'POST /flow_runs/filter': answer },
      summary,
    );

    const startedAt = String((summary.steps[0]?.data as { startedAt?: string } | undefined)?.startedAt);
    const runFilters = api.requests
      .filter((r) => r.path === '/flow_runs/filter')
      .map((r) => (r.body as { flow_runs: Record<string, { any_?: string[]; after_?: string }> }).flow_runs);
    expect(runFilters.length).toBeGreaterThan(0);
    for (const filter of runFilters) {
      const byId = (filter.id?.any_ ?? []).length > 0 && (filter.id?.any_ ?? []).every((id) => ids.includes(id));
      const fromStart =
        filter.deployment_id?.any_?.length === 1 &&
        filter.start_time?.after_ !== undefined &&
        filter.start_time.after_ >= startedAt.slice(0, 19);
      expect(byId || fromStart, JSON.stringify(filter)).toBe(true);
    }
    // State histories only of the rehearsal's runs and runs that started within it: none of the earlier ones.
    const histories = api.requests
      .filter((r) => r.path.startsWith('/flow_run_states/'))
      .map((r) => r.path.split('=')[1]);
    expect(histories.sort()).toEqual([...ids].sort());
    const events = api.requests
      .filter((r) => r.path === '/events/filter')
      .map((r) => (r.body as { filter: { occurred: { since: string } } }).filter.occurred.since);
    expect(events.length).toBeGreaterThan(0);
    for (const since of events) expect(Date.parse(since)).toBeGreaterThanOrEqual(Date.parse(startedAt) - 60_000);
    expect(outcome.error).toBeUndefined();
  });
});
