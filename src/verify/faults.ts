import { z } from 'zod';
import { FAULTS_FILE, STATE_HISTORY_FILE } from '../bundle/files.js';
import { openStateHistory } from '../bundle/state-history.js';
import { stepDataIfValid } from '../bundle/step-data.js';
import type { Summary } from '../bundle/summary.js';
import { type FaultsFile, FaultsFileSchema } from '../guardrails/fault-record.js';
import { judgeInjections, judgeUntouched } from '../guardrails/faults.js';
import { SLOTS_RELEASED } from '../guardrails/slots-released.js';
import type { Check } from '../guardrails/verdict.js';
import { lastState } from '../prefect/schemas.js';
import { bundleFilePath, readBundleText } from './files.js';
import { errorText, inconsistent, type VerifyProblem } from './problem.js';

/**
 * A fault rehearsal's recovery verdicts judged again from the bundle: each fault's check from faults.json,
 * faults.untouched_completed from the final states in state-history.json, slots.released from the active
 * slots it recorded before the burst and after (and faults.json's copy of it). A pass no evidence bears out
 * is refused.
 */

const isFaultCheck = (check: Check): boolean => check.id.startsWith('faults.');

async function readFaults(dir: string): Promise<FaultsFile | VerifyProblem | undefined> {
  const text = await readBundleText(dir, FAULTS_FILE);
  if (text === undefined) return undefined;
  try {
    return FaultsFileSchema.parse(JSON.parse(text));
  } catch (error) {
    return inconsistent(`not the faults record rehearse writes: ${errorText(error)}`, FAULTS_FILE);
  }
}

/** Each recorded check beside the one judged again: both present, the same verdict. */
function compare(again: readonly Check[], recorded: readonly Check[], file: string): VerifyProblem[] {
  const problems: VerifyProblem[] = [];
  for (const check of again) {
    const was = recorded.find((c) => c.id === check.id);
    if (!was) problems.push(inconsistent(`${check.id} is not recorded; its evidence gives ${check.verdict}`, file));
    else if (was.verdict !== check.verdict)
      problems.push(inconsistent(`${check.id} is recorded ${was.verdict}; recomputed it is ${check.verdict}`, file));
  }
  return problems;
}

/** The rehearsal's own runs as state-history.json ends them: what faults.untouched_completed judged. */
async function finalRuns(dir: string) {
  const file = await bundleFilePath(dir, STATE_HISTORY_FILE);
  if (file === undefined) return undefined;
  const reader = await openStateHistory(file);
  const runs = [];
  for await (const run of reader.runs) {
    if (!run.rehearsal) continue;
    const last = lastState(run.states);
    runs.push({ id: run.runId, name: run.runName ?? run.runId, state_type: last?.type, state_name: last?.name });
  }
  return runs;
}

async function recheckUntouched(dir: string, summary: Summary, faults: FaultsFile, recorded: Check | undefined) {
  let runs: Awaited<ReturnType<typeof finalRuns>>;
  try {
    runs = await finalRuns(dir);
  } catch (error) {
    return [inconsistent(`cannot read the runs' final states from it: ${errorText(error)}`, STATE_HISTORY_FILE)];
  }
  // Without the runs' histories (a step that failed before capture) there is nothing to judge it again with.
  if (!runs) return [];
  const hit = new Set(
    faults.faults.flatMap((f) => [
      ...(f.target ? [f.target.id] : []),
      ...(f.touchedRuns ?? []).map((r) => r.id),
      ...(f.strandedRuns?.runs ?? []).map((r) => r.id),
    ]),
  );
  const again = judgeUntouched(runs, hit, primaryRunOf(summary));
  return compare([again], recorded ? [recorded] : [], STATE_HISTORY_FILE);
}

/** The CLI's own run, which the collision strategy never turns away (the run step's data). */
const primaryRunOf = (summary: Summary): string | undefined =>
  stepDataIfValid('run', summary.steps.find((s) => s.name === 'run')?.data).primaryRunId ?? undefined;

const SlotCountsSchema = z.record(z.string(), z.number());

/** slots.released against its own figures: a pass with a limit holding more than before the burst is refused. */
function recheckReleased(released: Check, faults: FaultsFile | undefined): VerifyProblem[] {
  const before = SlotCountsSchema.safeParse(released.expected);
  const after = SlotCountsSchema.safeParse(released.actual);
  if (!before.success || !after.success)
    return [inconsistent('slots.released records no active slots per limit before and after the burst')];
  const held = Object.entries(after.data).filter(([limit, n]) => n > (before.data[limit] ?? 0));
  const problems: VerifyProblem[] = [];
  if (released.verdict === 'pass' && held.length > 0)
    problems.push(
      inconsistent(
        `slots.released is recorded pass, but ${held.map(([l, n]) => `${l} holds ${n} (${before.data[l] ?? 0} before)`).join(', ')}`,
      ),
    );
  if (released.verdict === 'fail' && held.length === 0)
    problems.push(inconsistent('slots.released is recorded fail, but every limit is back to its count before'));
  if (faults?.slotsReleased && faults.slotsReleased.verdict !== released.verdict)
    problems.push(
      inconsistent(
        `faults.json says slots.released was ${faults.slotsReleased.verdict}; summary.json records ${released.verdict}`,
        FAULTS_FILE,
      ),
    );
  return problems;
}

export async function recheckFaults(dir: string, summary: Summary): Promise<VerifyProblem[]> {
  const checks = summary.steps.flatMap((s) => s.checks);
  const recorded = checks.filter(isFaultCheck);
  const released = checks.find((c) => c.id === SLOTS_RELEASED);
  const read = await readFaults(dir);
  if (read && 'kind' in read) return [read];
  const problems = released ? recheckReleased(released, read) : [];
  if (!read) {
    if (recorded.length > 0)
      problems.push(
        inconsistent(`${recorded.length} fault check(s) are recorded, but it is not in the bundle`, FAULTS_FILE),
      );
    return problems;
  }
  // A run step that failed or was interrupted rolled its faults back and judged none: nothing to compare. One that
  // ended ok judged every fault and the runs they did not touch: each of those checks must be there.
  if (summary.steps.find((s) => s.name === 'run')?.status !== 'ok') return problems;
  const injections = judgeInjections(read.faults);
  problems.push(...compare(injections, recorded, FAULTS_FILE));
  const judged = new Set(injections.map((c) => c.id));
  for (const extra of recorded.filter((c) => /^faults\.\d+\./.test(c.id) && !judged.has(c.id)))
    problems.push(inconsistent(`${extra.id} is recorded, but faults.json lists no such fault`, FAULTS_FILE));
  const untouched = recorded.find((c) => c.id === 'faults.untouched_completed');
  problems.push(...(await recheckUntouched(dir, summary, read, untouched)));
  return problems;
}
