/** notes.md's first section: the settled verdict and, before any step's detail, what failed and what to do. */
import type { Bundle } from '../bundle/bundle.js';
import { table, updateNotes } from '../bundle/notes.js';
import type { Summary } from '../bundle/summary.js';
import { exitMeaning } from './html.js';
import { explainFailures } from './why.js';

function verdictNotes(summary: Summary): string {
  const why = explainFailures(summary.checks, summary.target.manifest);
  const errors = summary.steps.filter((step) => step.error);
  const passed = summary.checks.filter((c) => c.verdict === 'pass').length;
  return [
    `Exit ${summary.exitCode}: ${exitMeaning(summary)} (bundle ${summary.status}).`,
    why.length
      ? table(
          ['check', 'verdict', 'why', 'fix'],
          why.map((w) => [`\`${w.check.id}\``, w.check.verdict, w.headline, w.fix]),
        )
      : '',
    ...errors.map(
      (step) =>
        `Step ${step.name} did not finish (${step.status}): ${step.error?.code}: ${step.error?.message}` +
        (step.error?.hint ? `; what to do: ${step.error.hint}` : ''),
    ),
    `${passed} of ${summary.checks.length} check(s) passed; each step's section below has them all.`,
  ]
    .filter((part) => part !== '')
    .join('\n\n');
}

/** Write (or replace) the verdict section at the top of notes.md, from the settled summary. */
export function writeVerdictNotes(bundle: Bundle, summary: Summary, now: Date): Promise<string> {
  return updateNotes(bundle, 'verdict', `Verdict: ${summary.verdict.toUpperCase()}`, verdictNotes(summary), now, {
    first: true,
  });
}
