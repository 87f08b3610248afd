import type { StepRecord, Summary } from '../bundle/summary.js';
import { maskJson, type Redactor } from '../secrets/redact.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import type { CommandResult, Reporter } from './events.js';

const escapeXml = (text: string): string =>
  text
    .replace(
      /[<>&"']/g,
      (ch) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[ch] as string,
    )
    .replace(/[\x00-\x08\x0b\x0c\x0e-\x1f]/g, '');

function stepCase(step: StepRecord, xml: (text: string) => string): string {
  const time = (step.durationMs / 1000).toFixed(3);
  const head = `    <testcase classname="rehearse.steps" name="${xml(step.name)}" time="${time}">`;
  if (step.status === 'ok') return `${head}</testcase>`;
  if (step.status === 'skipped') return `${head}<skipped/></testcase>`;
  const message = step.error ? `${step.error.message}${step.error.hint ? ` (${step.error.hint})` : ''}` : step.status;
  return `${head}<error message="${xml(message)}" type="${xml(step.error?.code ?? step.status)}"/></testcase>`;
}

/** One test case per step and per guardrail; failures carry the reason. */
export function renderJunit(raw: Summary, redact: Redactor): string {
  // Values under secret-named keys (a check's expected/found) are masked as in --json and the bundle.
  const summary = maskJson(raw, redact).value;
  // Redact before escaping: an escaped secret would no longer match, and XML readers unescape it.
  const xml = (text: string): string => escapeXml(redact(text));
  const checks = summary.checks;
  const failures = checks.filter((c) => c.verdict === 'fail').length;
  const errors = summary.steps.filter((s) => s.status !== 'ok' && s.status !== 'skipped').length;
  const skipped = checks.filter((c) => c.verdict === 'inconclusive').length;
  const cases = [
    ...summary.steps.map((step) => stepCase(step, xml)),
    ...checks.map((c) => {
      const head = `    <testcase classname="rehearse.guardrails.${xml(c.step)}" name="${xml(c.id)}">`;
      const detail = xml(`expected ${JSON.stringify(c.expected ?? null)}, found ${JSON.stringify(c.actual ?? null)}`);
      if (c.verdict === 'fail')
        return `${head}<failure message="${xml(c.reason)}" type="guardrail">${detail}</failure></testcase>`;
      if (c.verdict === 'inconclusive')
        return `${head}<skipped message="${xml(`inconclusive: ${c.reason}`)}"/></testcase>`;
      return `${head}</testcase>`;
    }),
  ];
  const total = summary.steps.length + checks.length;
  return (
    `<?xml version="1.0" encoding="UTF-8"?>\n<testsuites name="rehearse" tests="${total}" failures="${failures}" errors="${errors}" skipped="${skipped}">\n` +
    `  <testsuite name="rehearse ${xml(summary.bundle)}" tests="${total}" failures="${failures}" errors="${errors}" skipped="${skipped}" timestamp="${summary.createdAt}">\n` +
    `${cases.join('\n')}\n  </testsuite>\n</testsuites>\n`
  );
}

export function createJunitReporter(file: string, redact: Redactor): Reporter {
  let result: CommandResult | undefined;
  return {
    emit(event) {
      if (event.type === 'done') result = event.result;
    },
    async close() {
      if (result?.summary) await writeFileAtomic(file, renderJunit(result.summary, redact));
    },
  };
}
