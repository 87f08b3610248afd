import { stepDataIfValid } from '../bundle/step-data.js';
import type { Summary } from '../bundle/summary.js';
import { EXIT_MEANINGS, exitMeaning } from '../report/html.js';
import { explainFailures } from '../report/why.js';
import type { CommandResult } from './events.js';

/** A table cell: one line, no column break. */
const cell = (text: string): string => text.replace(/\r?\n/g, ' ').replace(/\|/g, '\\|');
/** Inline code that survives a backtick in the value. */
const code = (text: string): string => (text.includes('`') ? `\`\` ${text} \`\`` : `\`${text}\``);

function verdictLine(result: CommandResult): string {
  const verdict = (result.summary?.verdict ?? result.verdict).toUpperCase();
  const meaning = result.summary ? exitMeaning(result.summary) : (EXIT_MEANINGS[result.exitCode] ?? 'unknown');
  return `**${verdict}: ${meaning} (exit ${result.exitCode})**`;
}

/** The same why as report.html's banner and notes.md's verdict: failed first, a headline and a fix each. */
function checksSection(summary: Summary): string[] {
  const why = explainFailures(summary.checks, summary.target.manifest);
  if (why.length === 0) return [];
  const rows = why.map(
    ({ check, headline, fix }) =>
      `| ${code(check.id)} | ${check.verdict.toUpperCase()} | ${cell(headline)} | ${cell(fix)} |`,
  );
  return [
    '### Failed and inconclusive checks',
    '',
    '| check | verdict | reason | fix |',
    '| --- | --- | --- | --- |',
    ...rows,
  ];
}

/** The job summary never stops a command: a step's data that is not what rehearse wrote reads as none here. */
const validateData = (summary: Summary) =>
  stepDataIfValid('validate', summary.steps.find((s) => s.name === 'validate')?.data);

/** The peak against each limit, as the validate step measured them (slot holders for the global limit). */
function peakSection(summary: Summary): string[] {
  const data = validateData(summary);
  const limits = data.limits;
  if (!limits) return [];
  const rows = Object.entries(limits).map(([id, limit]) => {
    const peak = id === 'concurrency.global_limit' ? data.holderPeak : data.peak;
    const verdict = summary.checks.find((c) => c.id === id)?.verdict ?? '';
    return `| ${code(id)} | ${String(peak ?? '?')} | ${limit === null ? 'none' : String(limit)} | ${verdict.toUpperCase()} |`;
  });
  return [
    '### Peak against each limit',
    '',
    '| limit | peak | limit value | verdict |',
    '| --- | --- | --- | --- |',
    ...rows,
  ];
}

function bundleSection(result: CommandResult): string[] {
  const summary = result.summary;
  const bundle = result.bundle ?? summary?.bundle;
  if (!bundle) return [];
  const upload = summary && stepDataIfValid('upload', summary.steps.find((s) => s.name === 'upload')?.data).destination;
  return [
    `Bundle: ${code(bundle)}${summary ? ` (${summary.status})` : ''}`,
    ...(typeof upload === 'string' ? ['', `Uploaded to: ${code(upload)}`] : []),
  ];
}

/** What drifted since the last passing bundle: the baseline.* checks that failed. */
function driftSection(summary: Summary): string[] {
  const drifted = summary.checks.filter((c) => c.id.startsWith('baseline.') && c.verdict === 'fail');
  const baseline = validateData(summary).baseline;
  if (drifted.length === 0)
    return typeof baseline === 'string'
      ? ['### Drift since the last passing bundle', '', `None since ${code(baseline)}.`]
      : [];
  return ['### Drift since the last passing bundle', '', ...drifted.map((c) => `- ${code(c.id)}: ${cell(c.reason)}`)];
}

/** The job summary's Markdown: the verdict and its exit meaning first, then what to look at. Unmasked: the caller masks. */
export function renderGithubSummary(result: CommandResult): string {
  const summary = result.summary;
  const error = result.error
    ? [
        `${result.error.code}: ${cell(result.error.message)}${result.error.hint ? ` (what to do: ${cell(result.error.hint)})` : ''}`,
      ]
    : [];
  // A command that is no rehearsal (verify, doctor) says what it found in its closing lines.
  const lines = summary ? [] : (result.lines ?? []).map((line) => `- ${cell(line)}`);
  const sections = [
    [`## rehearse ${result.command}`, '', verdictLine(result)],
    error,
    lines,
    summary ? checksSection(summary) : [],
    summary ? peakSection(summary) : [],
    bundleSection(result),
    summary ? driftSection(summary) : [],
  ].filter((lines) => lines.length > 0);
  return `${sections.map((lines) => lines.join('\n')).join('\n\n')}\n\n`;
}
