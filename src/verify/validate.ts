import { z } from 'zod';
import { SLOT_HISTORY_FILE, STATE_HISTORY_FILE, WORK_POOL_FILE } from '../bundle/files.js';
import { openStateHistory, SlotHistoryFileSchema } from '../bundle/state-history.js';
import { type StepData, stepDataIfValid } from '../bundle/step-data.js';
import type { StepRecord, Summary } from '../bundle/summary.js';
import type { LimitEvidence } from '../guardrails/concurrency.js';
import { measurePeak } from '../guardrails/concurrency.js';
import {
  appliedLimits,
  isGlobalLimitLive,
  isStuck,
  judgeConcurrencyChecks,
  type LimitInputs,
  type SettledRun,
} from '../guardrails/limits.js';
import { clipRun, countedRuns, type RehearsalWindow, rehearsalWindowCollector } from '../guardrails/own-runs.js';
import { type PeakResult, peakOf, type RunHistory, runningSpanCollector } from '../guardrails/peak.js';
import type { Check } from '../guardrails/verdict.js';
import { WorkPoolSchema } from '../prefect/schemas.js';
import { bundleFilePath, readBundleText } from './files.js';
import { readDeploymentFile, readExpected, recordedLookup } from './inspect.js';
import { errorText, inconsistent, type VerifyProblem } from './problem.js';

/**
 * The validate step's checks judged again from the bundle's own files, with the functions validate judges
 * with (guardrails/limits.ts): RUNNING runs from state-history.json, occupied slots from slot-history.json,
 * the limits from deployment.json, work-pool.json and the manifest copy. Each check validate always makes
 * for a bundle of this shape must be recorded, and recorded as it comes out again.
 */

type ValidateData = Partial<StepData<'validate'>>;

interface Running {
  peak: PeakResult;
  /** The rehearsal's own runs, and the other runs RUNNING beside them (guardrails/own-runs.ts). */
  submitted: number;
  others: string[];
  waited: string[];
  stuck: SettledRun[];
  asOf: string;
  window: RehearsalWindow | undefined;
  ownIds: Set<string>;
}

/**
 * One run at a time: a bundle of 100k runs holds ~100 MB of state history. A first pass finds the rehearsal's
 * own window; the second counts other runs only within it, as validate judged them.
 */
async function readRunning(file: string): Promise<Running> {
  const first = await openStateHistory(file);
  const windows = rehearsalWindowCollector(first.header.asOf);
  const ownIds = new Set<string>();
  for await (const run of first.runs) {
    windows.add(run);
    if (run.rehearsal) ownIds.add(run.runId);
  }
  const window = windows.finish();
  const reader = await openStateHistory(file);
  const { asOf } = reader.header;
  const collector = runningSpanCollector(asOf);
  const waited: string[] = [];
  const stuck: SettledRun[] = [];
  const others = new Set<string>();
  let submitted = 0;
  for await (const run of reader.runs) {
    const own = !window || run.rehearsal === true;
    const counted = own ? run : clipRun(run, window, asOf);
    if (counted) collector.add(counted);
    if (!own && counted?.states.some((s) => s.type === 'RUNNING')) others.add(run.runName ?? run.runId);
    if (own) submitted += 1;
    if (own && run.states.some((s) => s.name === 'AwaitingConcurrencySlot')) waited.push(run.runName ?? run.runId);
    if (isStuck(run)) stuck.push(run);
  }
  return { peak: peakOf(collector.finish()), submitted, others: [...others], waited, stuck, asOf, window, ownIds };
}

interface Slots {
  histories: RunHistory[];
  peak: PeakResult;
  occupy: number | undefined;
  /** From the holder peak validate recorded: a bundle made before slot-history.json was kept. */
  recordedOnly?: boolean;
}

const recordedPeak = (peak: number): PeakResult => ({
  peak,
  windows: [],
  intervals: [],
  runsThatRan: 0,
  runsThatNeverRan: [],
});
const RecordedPeakSchema = z.looseObject({ peak: z.number() });

/** A slot-holder figure as validate recorded it: in its data, or as the global limit check's actual. */
function recordedHolderPeak(validate: StepRecord, data: ValidateData): number | undefined {
  const fromData = data.holderPeak;
  if (fromData !== undefined) return fromData;
  const actual = validate.checks.find((c) => c.id === 'concurrency.global_limit')?.actual;
  return typeof actual === 'number' ? actual : RecordedPeakSchema.safeParse(actual).data?.peak;
}

async function readSlots(
  dir: string,
  validate: StepRecord,
  data: ValidateData,
  live: boolean,
  running: Running,
): Promise<Slots | VerifyProblem> {
  const none: Slots = { histories: [], peak: recordedPeak(0), occupy: undefined };
  if (!live) return none;
  const text = await readBundleText(dir, SLOT_HISTORY_FILE);
  if (text === undefined) {
    // Bundles from before slot-history.json record no occupy either: their holder peak is all there is.
    const recorded = recordedHolderPeak(validate, data);
    if (!('occupy' in data) && recorded !== undefined)
      return { ...none, peak: recordedPeak(recorded), recordedOnly: true };
    return inconsistent(
      'the global limit is live, so validate measured occupied slots into it, but it is not in the bundle',
      SLOT_HISTORY_FILE,
    );
  }
  try {
    const file = SlotHistoryFileSchema.parse(JSON.parse(text));
    const held = countedRuns(file.runs, running.ownIds, running.window, file.asOf).counted;
    return { histories: held, peak: measurePeak(held, file.asOf), occupy: file.occupy ?? undefined };
  } catch (error) {
    return inconsistent(`cannot recompute occupied slots from it: ${errorText(error)}`, SLOT_HISTORY_FILE);
  }
}

type Pool = { name: string; limit: number | null | undefined };

/** work-pool.json; undefined when it is absent but listed by the step (reported with the step's files). */
async function readPool(dir: string, validate: StepRecord): Promise<Pool | VerifyProblem | undefined> {
  const text = await readBundleText(dir, WORK_POOL_FILE);
  if (text === undefined)
    return validate.files.includes(WORK_POOL_FILE)
      ? undefined
      : inconsistent('validate judged the work-pool limit from it, but it is not in the bundle', WORK_POOL_FILE);
  try {
    const pool = WorkPoolSchema.parse(JSON.parse(text));
    return { name: pool.name, limit: pool.concurrency_limit };
  } catch (error) {
    return inconsistent(`not a work pool record: ${errorText(error)}`, WORK_POOL_FILE);
  }
}

/** The global limit as validate read it (its data), else as inspect did: the one limit no file holds. */
function recordedGlobalLimit(data: ValidateData, fromInspect: LimitInputs['gcl']): LimitInputs['gcl'] {
  const said = data.guardrails;
  return said && said.globalLimit !== null
    ? { limit: said.globalLimit, active: said.globalLimitActive ?? false }
    : fromInspect;
}

const show = (value: unknown): string => JSON.stringify(value ?? null);

type Figures = Record<string, unknown>;

/** A check's limit and measured figures; the manifest's as fields (older bundles recorded its running ones as numbers). */
function figuresOf(check: Check): { limit: Figures; measured: Figures } {
  const asFields = (value: unknown, fields: readonly string[]): Figures =>
    typeof value === 'object' && value !== null
      ? Object.fromEntries(fields.map((f) => [f, (value as Figures)[f]]))
      : { [fields[0] ?? '']: value ?? null };
  if (check.id === 'concurrency.manifest_limit')
    return {
      limit: asFields(check.expected, ['runsRunning', 'slotsOccupied']),
      measured: asFields(check.actual, ['runsRunning', 'slotsOccupied']),
    };
  return { limit: { '': check.expected ?? null }, measured: asFields(check.actual, ['peak']) };
}

/** What a check's verdict rests on, told in the fields the recorded check has: "pass (limit 2; measured peak 2)". */
function describe(check: Check, like: Check): string {
  if (check.id === 'runs.settled') return check.verdict;
  const mine = figuresOf(check);
  const theirs = figuresOf(like);
  const told = (from: Figures, keys: Figures) =>
    Object.keys(keys)
      .filter((k) => from[k] !== undefined || keys[k] !== undefined)
      .map((k) => (k ? `${k} ${show(from[k])}` : show(from[k])))
      .join(', ');
  return `${check.verdict} (limit ${told(mine.limit, theirs.limit)}; measured ${told(mine.measured, theirs.measured)})`;
}

/**
 * Every check judged again against the recorded ones: each present, each the same. `unjudged` are those whose
 * evidence could not be read (already reported): only their absence is told.
 */
function compareChecks(
  again: readonly Check[],
  recorded: readonly Check[],
  claimsPass: boolean,
  unjudged: ReadonlySet<string>,
): VerifyProblem[] {
  const problems: VerifyProblem[] = [];
  for (const check of again) {
    const was = recorded.find((c) => c.id === check.id);
    const recomputed = unjudged.has(check.id) ? '' : `; recomputed from the bundle it is ${describe(check, check)}`;
    if (!was) {
      problems.push(
        inconsistent(
          claimsPass
            ? `summary says pass, but check ${check.id} is missing${recomputed}`
            : `the validate step recorded no ${check.id} check, though its evidence gives one (${check.verdict})`,
        ),
      );
    } else if (!unjudged.has(check.id) && describe(was, was) !== describe(check, was)) {
      problems.push(
        inconsistent(
          `${check.id} is recorded ${describe(was, was)}; recomputed from the bundle it is ${describe(check, check)}`,
        ),
      );
    }
  }
  const judged = new Set(again.map((c) => c.id));
  for (const extra of recorded.filter((c) => c.id.startsWith('concurrency.') && !judged.has(c.id)))
    problems.push(
      inconsistent(`${extra.id} is recorded ${extra.verdict}, but the bundle's evidence gives no such check`),
    );
  return problems;
}

/** The recorded peaks in validate's data, which the report and the notes show, must be the recomputed ones. */
function compareData(data: ValidateData, running: Running, slots?: Slots): VerifyProblem[] {
  const problems: VerifyProblem[] = [];
  const recorded = data.peak;
  if (recorded !== running.peak.peak)
    problems.push(
      inconsistent(
        `the validate step recorded ${recorded === undefined ? 'no peak of' : `a peak of ${String(recorded)}`} RUNNING runs; its state histories give ${running.peak.peak}`,
        STATE_HISTORY_FILE,
      ),
    );
  const holders = data.holderPeak;
  if (slots && !slots.recordedOnly && holders !== undefined && holders !== slots.peak.peak)
    problems.push(
      inconsistent(
        `the validate step recorded a peak of ${holders} occupied slots; its slot history gives ${slots.peak.peak}`,
        SLOT_HISTORY_FILE,
      ),
    );
  // Without a slot history, the recorded holders are bounded by the runs that could hold slots.
  const most = running.peak.peak * (slots?.occupy ?? 1);
  if (slots?.recordedOnly && slots.peak.peak > most)
    problems.push(
      inconsistent(
        `the validate step recorded ${slots.peak.peak} occupied slots at once, but no more than ${most} runs were RUNNING at once`,
        STATE_HISTORY_FILE,
      ),
    );
  return problems;
}

/** Whether there is anything to recheck: a pass always needs it; a validate that measured nothing (a dry run) has none. */
function measuredAnything(validate: StepRecord, data: ValidateData): boolean {
  return (
    data.peak !== undefined || validate.checks.some((c) => c.id.startsWith('concurrency.') || c.id === 'runs.settled')
  );
}

/** state-history.json's RUNNING runs, or why they cannot be read from the bundle. */
async function readBundleRunning(dir: string): Promise<Running | VerifyProblem> {
  const file = await bundleFilePath(dir, STATE_HISTORY_FILE);
  if (file === undefined)
    return inconsistent(
      'the validate step measured concurrency from it, but it is not in the bundle',
      STATE_HISTORY_FILE,
    );
  try {
    return await readRunning(file);
  } catch (error) {
    return inconsistent(`cannot recompute the peak from it: ${errorText(error)}`, STATE_HISTORY_FILE);
  }
}

export async function recheckValidate(dir: string, summary: Summary): Promise<VerifyProblem[]> {
  const validate = summary.steps.find((s) => s.name === 'validate' && s.status === 'ok');
  const inspect = summary.steps.find((s) => s.name === 'inspect' && s.status === 'ok');
  const claimsPass = summary.verdict === 'pass';
  // Without either step a pass is already refused: a complete bundle has every evidence step.
  if (!validate || !inspect) return [];
  const data: ValidateData = stepDataIfValid('validate', validate.data);
  if (!(claimsPass || measuredAnything(validate, data))) return [];
  const running = await readBundleRunning(dir);
  if ('kind' in running) return [running];
  // deployment.json and the manifest copy: what keeps them from being read is reported with inspect's checks.
  const read = await readDeploymentFile(dir);
  const { expected } = await readExpected(dir, inspect, summary);
  const pool = await readPool(dir, validate);
  if ('problem' in read || !expected || !pool) return compareData(data, running);
  if ('kind' in pool) return [pool, ...compareData(data, running)];

  const key = expected.concurrencyKey;
  const lookup = recordedLookup(expected, read.deployment, inspect.checks);
  const inputs: LimitInputs = {
    deployment: read.deployment,
    poolName: pool.name,
    poolLimit: pool.limit,
    gcl: key ? recordedGlobalLimit(data, 'limit' in lookup ? lookup.limit : undefined) : undefined,
    key,
  };
  const slotRead = await readSlots(dir, validate, data, isGlobalLimitLive(inputs), running);
  const slots = 'kind' in slotRead ? undefined : slotRead;
  // Without occupied slots, the checks that measure them are not judged again (what is missing is reported).
  const unjudged = new Set(
    slots
      ? []
      : ['concurrency.global_limit', ...(expected.keyLimit === undefined ? [] : ['concurrency.manifest_limit'])],
  );
  const evidence: LimitEvidence = {
    running: { histories: [], peak: running.peak },
    slots: { histories: slots?.histories ?? [], peak: slots?.peak ?? recordedPeak(0) },
    occupy: slots?.occupy,
    submitted: running.submitted,
    others: running.others,
    waited: running.waited,
    asOf: running.asOf,
  };
  const again = judgeConcurrencyChecks(expected, evidence, appliedLimits(inputs), {
    stuck: running.stuck,
    poolLimitPromised: validate.checks.some((c) => c.id === 'concurrency.work_pool_limit'),
  });
  return [
    ...compareChecks(again, validate.checks, claimsPass, unjudged),
    ...('kind' in slotRead ? [slotRead] : []),
    ...compareData(data, running, slots),
  ];
}
