/** What the validate step says: the task a violation files in Next_Steps.md, and its section of notes.md. */
import path from 'node:path';
import type { Bundle } from '../../bundle/bundle.js';
import { NOTES_FILE, table } from '../../bundle/notes.js';
import type { Context } from '../../context.js';
import type { Baseline } from '../../guardrails/baseline.js';
import { SLOTS_RELEASED } from '../../guardrails/slots-released.js';
import type { Check } from '../../guardrails/verdict.js';
import { appendNextStepsTask } from '../../ledgers/ledgers.js';
import { fullName } from '../../prefect/queries.js';
import type { ConcurrencyJudgement, Observed, SlotMeasure } from './judge.js';

/** A failed check's headline: its reason up to the detail of windows. */
const headlineOf = (check: Check): string => check.reason.split(/; | \| /)[0] ?? check.reason;

/**
 * A violation halts the release: a task in the Next_Steps.md ledger says so, once per deployment and set
 * of failed checks. Returns what was done, for the notes; undefined when nothing failed or in a dry run.
 */
export async function fileViolations(
  ctx: Context,
  bundle: Bundle,
  seen: Observed,
  violations: readonly Check[],
): Promise<string | undefined> {
  if (violations.length === 0) return undefined;
  const { nextSteps, owner } = ctx.config.ledgers;
  // The ledger is a file outside the bundle, which no dry-run rule covers: the step prints what it skips.
  if (ctx.flags.dryRun) {
    const display = `append a task to ${nextSteps}: release halted (${violations.map((v) => v.id).join(', ')})`;
    ctx.reporter.emit({ type: 'command-start', step: ctx.currentStep, display, dryRun: true });
    return undefined;
  }
  const ledger = path.resolve(ctx.cwd, nextSteps);
  // Relative to the ledger, so the link resolves wherever the ledger is read from.
  const notesLink = path.relative(path.dirname(ledger), path.join(bundle.dir, NOTES_FILE)).split(path.sep).join('/');
  const name = fullName(seen.ref);
  const failed = violations.map((v) => `${v.title} (${headlineOf(v)})`).join('; ');
  // Held slots are not a guardrail to restore: cleanup gives them back (slots.released says which and why).
  const fixes = [
    ...(violations.some((v) => v.id !== SLOTS_RELEASED) ? [`restore the guardrails from ${seen.expected.source}`] : []),
    ...(violations.some((v) => v.id === SLOTS_RELEASED) ? ['give back the held slots with `rehearse cleanup`'] : []),
  ].join(', ');
  const result = await appendNextStepsTask({
    file: ledger,
    owner,
    text:
      `Backfill guardrail violated in staging rehearsal ${bundle.name} (${name}): ${failed}; ` +
      `overlapping runs and times in [${bundle.name}/${NOTES_FILE}](${notesLink}). ` +
      `${fixes.charAt(0).toUpperCase()}${fixes.slice(1)} and rerun the rehearsal; the release is halted.`,
    key: `rehearse:violation:${name}:${violations.map((v) => v.id).join(',')}`,
    redact: ctx.redact,
  });
  const task = result.added ? `added a task to ${nextSteps}` : `an open task in ${nextSteps} already tracks this`;
  ctx.reporter.emit({ type: 'warn', message: `release halted: ${task}` });
  return task;
}

export interface NotesInput {
  seen: Observed;
  judged: ConcurrencyJudgement;
  slots: SlotMeasure;
  checks: Check[];
  baseline: Baseline | undefined;
  /** The deployment the bundle rehearsed, and where its baseline was looked for. */
  deployment: string;
  evidenceRoot: string;
  task: string | undefined;
}

/** The validate section of notes.md: the peaks, their windows, every check, the baseline and what was filed. */
export function validateNotes(input: NotesInput): string {
  const { seen, judged, slots, checks, baseline, deployment, evidenceRoot, task } = input;
  const { histories, key } = seen;
  const peak = judged.evidence.running.peak;
  const peakRows = peak.windows
    .slice(0, 5)
    .map((w) => [
      w.start,
      w.end,
      w.runIds.length,
      w.runIds.map((id) => histories.runs.find((r) => r.runId === id)?.runName ?? id).join(', '),
    ]);
  const waited = judged.waited.length;
  const ours = histories.rehearsalRunIds.length;
  const took = slots.occupy === undefined ? '' : ` (each acquisition took ${slots.occupy})`;
  return [
    `Peak of simultaneously RUNNING runs: **${peak.peak}**, over ${histories.runs.length} run(s) of ${fullName(seen.ref)} ` +
      `(${ours} from this rehearsal), from state histories as of ${histories.asOf}. ` +
      `Peak of occupied slots of ${key ?? 'no key'}: ${slots.peak.peak}${took}.`,
    peakRows.length ? table(['from', 'to', 'running', 'runs'], peakRows) : 'No run reached RUNNING.',
    table(
      ['check', 'verdict', 'limit', 'why'],
      checks.map((c) => [c.id, c.verdict, c.expected, c.reason]),
    ),
    baseline
      ? `Guardrails compared with ${baseline.bundle}, the last passing rehearsal of ${deployment} under ${evidenceRoot}.`
      : `No earlier passing rehearsal of ${deployment} under ${evidenceRoot}: ` +
        "no baseline to compare with; a pass here becomes the next one's.",
    ...(waited
      ? [
          `${waited} run(s) waited in AwaitingConcurrencySlot: ` +
            'under ENQUEUE, runs queued beyond the limit are the guardrail working, not a violation.',
        ]
      : []),
    ...(task ? [`Release halted: ${task}.`] : []),
  ].join('\n\n');
}
