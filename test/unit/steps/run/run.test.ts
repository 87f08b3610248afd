import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { NOTES_FILE } from '../../../../src/bundle/notes.js';
import { newSummary } from '../../../../src/bundle/summary-io.js';
import { type ConfigInput, ConfigSchema } from '../../../../src/config/schema.js';
import { RehearseError } from '../../../../src/errors.js';
import type { Check } from '../../../../src/guardrails/verdict.js';
import { DeploymentSchema } from '../../../../src/prefect/schemas.js';
import { explainCheck } from '../../../../src/report/why.js';
import { CREATED_RUNS_FILE } from '../../../../src/steps/run/burst.js';
import { checkParameters, type RunStepOptions, runStep } from '../../../../src/steps/run/run.js';
import { runSteps } from '../../../../src/steps/runner.js';
import { createTestContext } from '../../../support/context.js';
import {
  createFakeApi,
  type FakeRoutes,
  recorded,
  recordedDeployment,
  recordedRoutes,
} from '../../../support/fake-api.js';
import { createFakeRunner, type FakeResult } from '../../../support/fake-runner.js';
import { LIMITED_BURST, type RecordedRun, recordedRuns, recordedStates } from '../../../support/recorded-runs.js';
import { createFakeClock } from '../../support/fake-clock.js';
import { useTempBundle } from '../../support/step-context.js';

const NOW = new Date('2026-11-26T01:20:00Z');
const LOG_FILE = 'hotpass-e2e-staging.log';
const RUN_ARGV = ['uv', 'run', 'prefect', 'deployment', 'run', 'hotpass-backfill/hotpass-backfill'];
const DEPLOYMENT_ID = recordedDeployment().id as string;
const CREATE_PATH = `/deployments/${DEPLOYMENT_ID}/create_flow_run`;

// The recorded burst: the API created antique-eel and weightless-pronghorn, the CLI ambitious-raptor.
const BURST = recordedRuns(LIMITED_BURST);
const [CREATED_FIRST, CREATED_SECOND, CLI_RUN] = [
  '82d8546f-0725-45af-9b8f-c20485454e6c',
  '34488f86-11b8-4ab6-8c44-3911ceff7a47',
  '5162db9a-b77d-488c-9971-6472528d5ee4',
].map((id) => BURST.find((r) => r.id === id) as RecordedRun);
const CLI_OK: FakeResult = { exitCode: 0, stdout: recorded('deployment.run.stdout'), stderr: '' };

/** What create_flow_run answers: the recorded run as it was when created, Scheduled and not yet started. */
function asCreated(run: RecordedRun): string {
  const scheduled = recordedStates(run.id)[0];
  return JSON.stringify({
    ...run,
    state_type: 'SCHEDULED',
    state_name: 'Scheduled',
    state: scheduled,
    state_id: scheduled?.id,
    start_time: null,
    end_time: null,
    run_count: 0,
    total_run_time: 0,
    infrastructure_pid: null,
  });
}

/** The recorded server, creating the two runs in turn and listing the burst as it ended (runs replaced by `finalRuns`). */
function burstRoutes(finalRuns: RecordedRun[] = BURST): FakeRoutes {
  return {
    ...recordedRoutes(),
    [`POST ${CREATE_PATH}`]: [
      { status: 201, text: asCreated(CREATED_FIRST as RecordedRun) },
      { status: 201, text: asCreated(CREATED_SECOND as RecordedRun) },
    ],
    'POST /flow_runs/filter': { status: 200, text: JSON.stringify(finalRuns) },
  };
}

const temp = useTempBundle('rehearse-run-', NOW);

/** `rehearse run` as the command runs it: the one step, through the runner, into the bundle. */
async function run(
  options: {
    routes?: FakeRoutes;
    config?: ConfigInput;
    dryRun?: boolean;
    defaultBurst?: RunStepOptions['defaultBurst'];
  } = {},
) {
  const runner = createFakeRunner([{ match: RUN_ARGV, result: CLI_OK }]);
  const api = createFakeApi(options.routes ?? burstRoutes());
  const base = createTestContext({
    runner,
    api,
    now: () => NOW,
    config: options.config ?? { run: { burst: 3 } },
    flags: { dryRun: options.dryRun ?? false },
  });
  // The pauses between creations and between polls pass in simulated time.
  const ctx = { ...base, clock: createFakeClock() };
  const outcome = await runSteps(
    ctx,
    temp.bundle,
    [runStep({ defaultBurst: options.defaultBurst ?? 'one', openPage: async () => undefined })],
    newSummary(temp.bundle, NOW, {}),
    { wholeRehearsal: false },
  );
  // Bad input records no step at all (outcome.untouched); every other outcome records one.
  const step = outcome.summary.steps.find((s) => s.name === 'run') as NonNullable<
    ReturnType<typeof outcome.summary.steps.find>
  >;
  if (!step && !outcome.untouched) throw new Error('runSteps recorded no run step');
  const creates = api.requests.filter((r) => r.path === CREATE_PATH);
  return { outcome, step, runner, api, creates };
}

const file = (rel: string) => readFile(path.join(temp.bundle.dir, rel), 'utf8');
const valueAfter = (argv: readonly string[], flag: string): string[] =>
  argv.flatMap((arg, i) => (arg === flag ? [argv[i + 1] ?? ''] : []));

describe('checkParameters, against the recorded deployment', () => {
  const deployment = DeploymentSchema.parse(recordedDeployment());

  it('accepts the window and the parameters the flow declares', () => {
    expect(() =>
      checkParameters(deployment, { since: '2024-01-01', until: '2024-01-07', day_seconds: 2 }),
    ).not.toThrow();
  });

  it('refuses a key the flow does not declare, listing the ones it accepts', () => {
    let caught: unknown;
    try {
      checkParameters(deployment, { since: '2024-01-01', until: '2024-01-07', window_days: 7, dry: true });
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(RehearseError);
    const error = caught as RehearseError;
    expect(error.code).toBe('USAGE');
    expect(error.message).toBe('deployment hotpass-backfill does not accept parameter(s) window_days, dry');
    expect(error.details).toEqual([
      'it accepts: since, until, runs, archive_root, restore_root, parameters, concurrency_limit, concurrency_key, day_seconds, notify_token',
    ]);
  });

  it('lets anything through when the deployment publishes no parameter schema', () => {
    const bare = DeploymentSchema.parse({ ...recordedDeployment(), parameter_openapi_schema: null });
    expect(() => checkParameters(bare, { window_days: 7 })).not.toThrow();
  });
});

describe('the run step, through runSteps against the recorded server and CLI', () => {
  it.each([
    ['--burst 3', { run: { burst: 3 } }, 'one'],
    ['the whole rehearsal (one more than the strictest limit of 2)', {}, 'exceed-limit'],
  ] as const)(
    'with %s: creates 2 runs through the API, then runs and watches the third with the CLI',
    async (_name, config, defaultBurst) => {
      const { outcome, step, runner, creates } = await run({ config, defaultBurst });

      expect(outcome.error).toBeUndefined();
      expect([step.status, step.verdict]).toEqual(['ok', 'pass']);
      expect(step.checks.map((c) => [c.id, c.verdict])).toEqual([['runs.completed', 'pass']]);

      const tags = ['rehearse', `rehearse-${temp.bundle.name}`];
      expect(creates).toHaveLength(2);
      for (const request of creates) {
        expect(request.body).toEqual({
          parameters: { since: '2024-01-01', until: '2024-01-07' },
          tags,
          idempotency_key: expect.stringMatching(`^rehearse-${temp.bundle.name}-`),
        });
      }
      // One key per run of the burst: a resent creation returns its run, never a second one.
      expect(new Set(creates.map((r) => (r.body as { idempotency_key: string }).idempotency_key)).size).toBe(2);

      expect(runner.calls).toHaveLength(1);
      const argv = [runner.calls[0]?.file ?? '', ...(runner.calls[0]?.args ?? [])];
      expect(argv.slice(0, RUN_ARGV.length)).toEqual(RUN_ARGV);
      // The parameters go on stdin (`--params -`), never in the argument list.
      expect(valueAfter(argv, '--params')).toEqual(['-']);
      expect(JSON.parse(runner.calls[0]?.input ?? 'null')).toEqual({ since: '2024-01-01', until: '2024-01-07' });
      expect(valueAfter(argv, '--tag')).toEqual(tags);
      expect(argv).toContain('--watch');

      // The extra runs are created before the CLI runs, so a refused creation triggers nothing.
      const kinds = step.commands.map((c) =>
        c.kind === 'process' ? 'cli' : c.url?.endsWith('/create_flow_run') ? 'create' : 'read',
      );
      expect(kinds.lastIndexOf('create')).toBeLessThan(kinds.indexOf('cli'));

      expect(step.data).toMatchObject({
        primaryRunId: CLI_RUN?.id,
        flowRunIds: [CLI_RUN?.id, CREATED_FIRST?.id, CREATED_SECOND?.id],
        burst: 3,
        strictestLimit: 2,
        runUrl: `http://127.0.0.1:41107/runs/flow-run/${CLI_RUN?.id}`,
      });
      const log = await file(LOG_FILE);
      expect(log.startsWith(CLI_OK.stdout)).toBe(true);
      expect(log).toContain(`└── UUID: ${CLI_RUN?.id}`);
      expect(log).toContain(
        `${CREATED_FIRST?.id} antique-eel Completed\n${CREATED_SECOND?.id} weightless-pronghorn Completed`,
      );
      expect(step.files).toEqual([LOG_FILE, 'created-runs.txt', NOTES_FILE]);
      expect(await file('created-runs.txt')).toContain(`${CLI_RUN?.id}`);
      expect(await file(NOTES_FILE)).toContain(`| ambitious-raptor (watched) | ${CLI_RUN?.id} | Completed |`);
    },
  );

  it('fails runs.completed when a run of the burst ends Failed', async () => {
    const failed = { ...CREATED_FIRST, state_type: 'FAILED', state_name: 'Failed' } as RecordedRun;
    const { outcome, step } = await run({ routes: burstRoutes(BURST.map((r) => (r.id === failed.id ? failed : r))) });

    expect(outcome.error).toBeUndefined();
    expect(outcome.exitCode).toBe(1);
    const check = step.checks.find((c) => c.id === 'runs.completed');
    expect(check?.verdict).toBe('fail');
    expect(check?.reason).toBe(
      `1 run(s) ended badly: antique-eel Failed; fix: read why in \`uv run prefect flow-run logs ${failed.id}\` ` +
        "(antique-eel; the others' logs likewise), fix the flow or what it reads, then rerun `rehearse backfill`",
    );
    // The run ended on its own: cleaning up would change nothing, so the report does not advise it.
    expect(explainCheck(check as Check).fix).not.toMatch(/cleanup/);
  });

  it('names every run that did not complete: the watched run Cancelled and another Cancelled beside it', async () => {
    const cancel = (r: RecordedRun | undefined) =>
      ({ ...r, state_type: 'CANCELLED', state_name: 'Cancelled' }) as RecordedRun;
    const gone = [CLI_RUN?.id, CREATED_SECOND?.id];
    const { step } = await run({ routes: burstRoutes(BURST.map((r) => (gone.includes(r.id) ? cancel(r) : r))) });
    const check = step.checks.find((c) => c.id === 'runs.completed');
    expect(check?.verdict).toBe('fail');
    expect(check?.reason).toBe(
      '1 run(s) ended badly: ambitious-raptor Cancelled; also Cancelled, as CANCEL_NEW turns excess runs away: weightless-pronghorn Cancelled',
    );
  });

  it('passes a run of the burst that ended Cancelled: that is how CANCEL_NEW turns excess runs away', async () => {
    const cancelled = { ...CREATED_SECOND, state_type: 'CANCELLED', state_name: 'Cancelled' } as RecordedRun;
    const { step } = await run({ routes: burstRoutes(BURST.map((r) => (r.id === cancelled.id ? cancelled : r))) });
    expect(step.checks.map((c) => [c.id, c.verdict])).toEqual([['runs.completed', 'pass']]);
  });

  it('refuses --since after --until in the configuration, before a context exists', () => {
    const parsed = ConfigSchema.safeParse({ run: { since: '2024-01-07', until: '2024-01-01', burst: 3 } });
    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues.map((i) => `${i.path.join('.')}: ${i.message}`)).toEqual([
      'run.since: since is after until: the window runs from since to until',
    ]);
  });

  it('refuses a parameter the deployment does not accept with USAGE before triggering anything', async () => {
    const { outcome, step, runner, creates } = await run({
      config: { run: { burst: 3, parameters: { window_days: 7 } } },
    });

    expect(outcome.error?.code).toBe('USAGE');
    expect(outcome.error?.message).toContain('does not accept parameter(s) window_days');
    // Bad input leaves the bundle as it was: no step record, no summary rewritten.
    expect(outcome.untouched).toBe(true);
    expect(step).toBeUndefined();
    expect(creates).toEqual([]);
    expect(runner.calls).toEqual([]);
  });

  it('in a dry run, plans the CLI command and the creations without running or making either', async () => {
    const { outcome, step, runner, creates } = await run({ dryRun: true });

    expect(outcome.error).toBeUndefined();
    expect(runner.calls).toEqual([]);
    expect(creates).toEqual([]);
    expect(step.checks).toEqual([]);
    const planned = step.commands.filter((c) => c.planned);
    expect(planned.map((c) => c.kind)).toEqual(['http', 'http', 'process']);
    expect(planned[0]?.display).toContain(`POST http://127.0.0.1:4200/api${CREATE_PATH}`);
    expect(planned[2]?.args?.slice(0, RUN_ARGV.length - 1)).toEqual(RUN_ARGV.slice(1));
    expect(step.data).toMatchObject({ flowRunIds: [], primaryRunId: null, burst: 3 });
    expect(await readdir(temp.bundle.dir)).not.toContain(LOG_FILE);
    expect(await readdir(temp.bundle.dir)).not.toContain(CREATED_RUNS_FILE);
    expect(outcome.summary.verdict).not.toBe('pass');
  });
});
