import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach } from 'vitest';
import { type Bundle, createBundle } from '../../../src/bundle/bundle.js';
import { STATE_HISTORY_FILE } from '../../../src/bundle/files.js';
import type { Summary } from '../../../src/bundle/summary.js';
import { newSummary, withStep } from '../../../src/bundle/summary-io.js';
import type { ConfigInput } from '../../../src/config/schema.js';
import type { RunFlags } from '../../../src/context.js';
import type { SecretKeeper } from '../../../src/secrets/redact.js';
import { learningClient } from '../../../src/session-secrets.js';
import { runSteps, type Stage } from '../../../src/steps/runner.js';
import { createTestContext } from '../../support/context.js';
import { createFakeApi, type FakeRoutes } from '../../support/fake-api.js';
import { createFakeRunner, type FakeEntry } from '../../support/fake-runner.js';
import { LIMITED_BURST, recordedRuns, stateHistoryOf, UNLIMITED_BURST } from '../../support/recorded-runs.js';

/** Where the staging backfill's bundles go, below the directory rehearse is started in. */
export const BUNDLES_DIR = 'dist/staging/backfill';

/** The command the inspect step runs for the default deployment. */
export const INSPECT_ARGV = [
  'uv',
  'run',
  'prefect',
  'deployment',
  'inspect',
  'hotpass-backfill/hotpass-backfill',
  '-o',
  'json',
];

/** A fresh temporary directory for each test of the file, removed after the test. */
export function useTempDir(prefix: string): { readonly dir: string } {
  const temp = { dir: '' };
  beforeEach(async () => {
    temp.dir = await mkdtemp(path.join(tmpdir(), prefix));
  });
  afterEach(() => rm(temp.dir, { recursive: true, force: true }));
  return temp;
}

/** A fresh temporary directory for each test of the file, with an evidence bundle created at `now` below it. */
export function useTempBundle(prefix: string, now: Date): { readonly root: string; readonly bundle: Bundle } {
  const temp = useTempDir(prefix);
  let bundle: Bundle;
  beforeEach(async () => {
    bundle = await createBundle(path.join(temp.dir, BUNDLES_DIR), now, (text) => text);
  });
  return {
    get root() {
      return temp.dir;
    },
    get bundle() {
      return bundle;
    },
  };
}

export type Burst = typeof LIMITED_BURST | typeof UNLIMITED_BURST;
/** When each recorded burst's run step started, and when capture read its state histories a few seconds after. */
const BURSTS: Record<Burst, { startedAt: string; asOf: string }> = {
  [LIMITED_BURST]: { startedAt: '2026-11-26T01:28:28.100Z', asOf: '2026-11-26T01:29:05.000Z' },
  [UNLIMITED_BURST]: { startedAt: '2026-11-26T01:49:20.103Z', asOf: '2026-11-26T01:49:54.542Z' },
};

/** The bundle's summary after the run step of a recorded burst. */
export function afterRunStep(bundle: Bundle, now: Date, burst: Burst = LIMITED_BURST): Summary {
  const runs = recordedRuns(burst);
  const { startedAt } = BURSTS[burst];
  return withStep(newSummary(bundle, now, { deployment: 'hotpass-backfill' }), {
    name: 'run',
    title: 'trigger and watch the rehearsal run',
    status: 'ok',
    verdict: 'pass',
    startedAt,
    durationMs: 30_000,
    files: [],
    commands: [],
    checks: [],
    data: {
      fullName: 'hotpass-backfill/hotpass-backfill',
      deploymentId: runs[0]?.deployment_id,
      flowRunIds: runs.map((r) => r.id),
      startedAt,
    },
  });
}

/** The bundle after run and capture of a recorded burst: its state-history.json written as capture writes it. */
export async function afterCapture(bundle: Bundle, now: Date, burst: Burst = LIMITED_BURST): Promise<Summary> {
  const history = stateHistoryOf(burst, BURSTS[burst].asOf);
  await writeFile(path.join(bundle.dir, STATE_HISTORY_FILE), `${JSON.stringify(history, null, 2)}\n`);
  return afterRunStep(bundle, now, burst);
}

/** What a test step context is built from: the fakes' answers and how rehearse was started. */
interface StepSetup {
  now: Date;
  /** Where rehearse was started (ledgers, Next_Steps.md). */
  cwd: string;
  routes?: FakeRoutes;
  commands?: FakeEntry[];
  config?: ConfigInput;
  flags?: Partial<RunFlags>;
  /** The command's redactor, taught by the API's answers as session.ts sets it up; none masks nothing. */
  redact?: SecretKeeper;
}

/** Runs steps into the bundle as a rehearse command does, over a fake process runner and Prefect API. */
export async function runStepsOver(bundle: Bundle, steps: Stage[], initial: Summary, setup: StepSetup) {
  const api = createFakeApi(setup.routes ?? {});
  const ctx = createTestContext({
    runner: createFakeRunner(setup.commands ?? []),
    api: setup.redact ? learningClient(api, setup.redact) : api,
    ...(setup.redact ? { redact: setup.redact } : {}),
    now: () => setup.now,
    cwd: setup.cwd,
    config: setup.config,
    flags: setup.flags,
  });
  const outcome = await runSteps(ctx, bundle, steps, initial, { wholeRehearsal: false });
  return { outcome, api, reporter: ctx.reporter };
}
