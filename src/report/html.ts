import { stepData } from '../bundle/step-data.js';
import type { StepRecord, Summary } from '../bundle/summary.js';
import type { Check } from '../guardrails/verdict.js';
import { escapeHtml as e, renderNotesMarkdown } from './escape.js';
import { renderValue } from './value.js';
import { explainFailures, notPassed } from './why.js';

export interface ReportInput {
  summary: Summary;
  /** The timeline SVG, or why there is none. */
  timeline: { svg: string; rows: number; peak: number } | { missing: string };
  notes?: string;
  screenshot?: { file: string; png: Buffer };
  /** Every file of the bundle, relative, sorted. */
  files: string[];
}

export const EXIT_MEANINGS: Record<number, string> = {
  0: 'pass: every guardrail held',
  1: 'a guardrail failed: the release is halted',
  2: 'usage or configuration error',
  3: 'could not run',
  4: 'inconclusive: the evidence proves nothing either way',
};

/** Exit 0 of a bundle that is not a pass (steps run by hand) says only that those steps passed. */
export const exitMeaning = (summary: Summary): string =>
  summary.exitCode === 0 && summary.verdict !== 'pass'
    ? `the steps that ran passed; the bundle is ${summary.status}`
    : (EXIT_MEANINGS[summary.exitCode] ?? 'unknown');

const STYLE = `body{font:14px/1.45 system-ui,sans-serif;margin:0 auto;max-width:1040px;padding:16px;color:#1c1c1c;overflow-wrap:anywhere}
h1{font-size:20px;margin:0 0 4px}h2{font-size:17px;border-bottom:1px solid #ddd;margin-top:28px}h3{font-size:15px;margin:18px 0 4px}
table{border-collapse:collapse;margin:8px 0;font-size:13px}td,th{border:1px solid #ddd;padding:3px 6px;text-align:left;vertical-align:top}
table.checks{width:100%;table-layout:fixed}.checks col.verdict{width:11%}.checks col.check{width:23%}.checks col.reason{width:36%}.checks col.value{width:15%}
code,.cmd{font:12px ui-monospace,monospace;word-break:break-all}pre{font:12px ui-monospace,monospace;white-space:pre-wrap;word-break:break-all;max-height:320px;overflow:auto;margin:4px 0}
.banner{padding:12px 16px;border-radius:6px;color:#fff}.banner code{background:rgba(255,255,255,.18);padding:0 3px;border-radius:3px;word-break:normal}
.verdict-pass{background:#1f6f3f}.verdict-fail{background:#c9352b}.verdict-inconclusive{background:#b7791f}.verdict-incomplete{background:#5c5c5c}
.banner .why{margin:8px 0;padding:8px 12px 8px 28px;background:rgba(0,0,0,.16);border-radius:4px}.banner .why li{margin:3px 0}.banner .fix{opacity:.92}
.banner dl{display:grid;grid-template-columns:max-content 1fr max-content 1fr;gap:2px 12px;margin:8px 0 0;font-size:13px}.banner dt{opacity:.85}.banner dd{margin:0}
td.pass{color:#1f6f3f}td.fail{color:#c9352b;font-weight:bold}td.inconclusive,td.error{color:#b7791f;font-weight:bold}
details>summary{cursor:pointer;color:#444}details.full>summary{font-size:12px}
.timeline{max-width:100%;height:auto}.shot{max-width:100%;border:1px solid #ccc}.notes{background:#fafafa;padding:4px 12px;border:1px solid #eee}
.notes table,table.commands{width:100%;table-layout:fixed}`;

const text = (value: unknown): string => (typeof value === 'string' ? value : '');

/** A line of the why: `code` spans kept, everything else escaped. */
const inline = (line: string): string => e(line).replace(/`([^`]+)`/g, '<code>$1</code>');

/** The failed and inconclusive checks, and the steps that could not finish: what the reader came for. */
function renderWhy(summary: Summary): string {
  const checks = explainFailures(summary.checks, summary.target.manifest).map(
    (why) =>
      `<li><strong>${e(why.check.verdict.toUpperCase())}</strong> <code>${e(why.check.id)}</code>: ${inline(why.headline)}<br><span class="fix">fix: ${inline(why.fix)}</span></li>`,
  );
  const errors = summary.steps
    .filter((step) => step.error)
    .map(
      (step) =>
        `<li><strong>${e(step.status.toUpperCase())}</strong> step ${e(step.name)}: ${e(step.error?.code)}: ${e(step.error?.message)}${step.error?.hint ? `<br><span class="fix">what to do: ${inline(step.error.hint)}</span>` : ''}</li>`,
    );
  const items = [...checks, ...errors];
  return items.length ? `<ol class="why">${items.join('')}</ol>` : '';
}

function renderBanner(summary: Summary): string {
  const rows: [string, string][] = [
    ['exit code', `${summary.exitCode} (${exitMeaning(summary)})`],
    ['status', summary.status],
    ['deployment', text(summary.target.deployment)],
    ['work pool', text(summary.target.workPool)],
    ['server', summary.prefect.apiUrl ?? ''],
    ['Prefect', summary.prefect.version ?? ''],
    ['bundle', summary.bundle],
    ['updated', `${summary.updatedAt} (created ${summary.createdAt})`],
  ];
  return `<section class="banner verdict-${e(summary.verdict)}"><h1>Backfill rehearsal: ${e(summary.verdict.toUpperCase())}</h1>${renderWhy(summary)}<dl>${rows
    .map(([k, v]) => `<dt>${e(k)}</dt><dd>${e(v)}</dd>`)
    .join('')}</dl></section>`;
}

const CHECK_COLUMNS =
  '<colgroup><col class="verdict"><col class="check"><col class="reason"><col class="value"><col class="value"></colgroup>' +
  '<tr><th>verdict</th><th>check</th><th>reason</th><th>expected</th><th>measured</th></tr>';

const checkRow = (c: Check): string =>
  `<tr><td class="${e(c.verdict)}">${e(c.verdict)}</td><td>${e(c.title)}<br><code>${e(c.id)}</code></td><td>${e(c.reason)}</td><td>${renderValue(c.expected)}</td><td>${renderValue(c.actual)}</td></tr>`;

/** One step's checks: the ones that did not pass in the open, the passes folded under a count. */
function renderStepChecks(step: StepRecord): string {
  const head = `<h3>${e(step.name)}: ${e(step.title)} <small>(${e(step.status)}, ${e(step.verdict)})</small></h3>`;
  const error = step.error
    ? `<p class="error">${e(step.error.code)}: ${e(step.error.message)}${step.error.hint ? ` (${e(step.error.hint)})` : ''}</p>`
    : '';
  const bad = notPassed(step.checks);
  const passed = step.checks.filter((c) => c.verdict === 'pass');
  const open = bad.length ? `<table class="checks">${CHECK_COLUMNS}${bad.map(checkRow).join('')}</table>` : '';
  const folded = passed.length
    ? `<details class="passed"><summary>${passed.length} passing check(s)</summary><table class="checks">${CHECK_COLUMNS}${passed.map(checkRow).join('')}</table></details>`
    : '';
  return `${head}${error}${open}${folded}`;
}

function renderChecks(summary: Summary): string {
  return `<section id="checks"><h2>Checks by step</h2>${summary.steps.map(renderStepChecks).join('')}</section>`;
}

function renderDrift(summary: Summary): string {
  const render = stepData(summary, 'render');
  const keys = render?.driftedKeys ?? [];
  const line = render
    ? `<p>Repository, render and live deployment: ${e(render.drift ?? 0)} drifted key(s)${keys.length ? `: <code>${e(keys.join(', '))}</code>` : ''}.</p>`
    : '<p>The render step has not run in this bundle.</p>';
  const baseline = summary.checks.filter((c) => c.id.startsWith('baseline') || c.id.startsWith('drift'));
  const rows = baseline.map(
    (c) => `<tr><td class="${e(c.verdict)}">${e(c.verdict)}</td><td>${e(c.title)}</td><td>${e(c.reason)}</td></tr>`,
  );
  return `<section id="drift"><h2>Drift</h2>${line}${rows.length ? `<table>${rows.join('')}</table>` : ''}</section>`;
}

function renderCommands(summary: Summary): string {
  const rows = summary.steps.flatMap((step) =>
    step.commands.map((c) => {
      const outcome =
        c.kind === 'http'
          ? `HTTP ${c.status ?? c.error ?? '?'}`
          : `exit ${c.exitCode ?? (c.timedOut ? 'timeout' : '?')}`;
      return `<tr><td>${e(step.name)}</td><td class="cmd">${e(c.display)}</td><td>${e(c.planned ? 'planned' : outcome)}</td><td>${e(c.durationMs)} ms</td></tr>`;
    }),
  );
  const table = `<table class="commands"><colgroup><col style="width:9%"><col><col style="width:10%"><col style="width:10%"></colgroup><tr><th>step</th><th>command</th><th>result</th><th>duration</th></tr>${rows.join('')}</table>`;
  return `<section id="commands"><h2>Commands and API calls</h2><details><summary>${rows.length} command(s) and API call(s)</summary>${table}</details></section>`;
}

function renderTimeline(input: ReportInput): string {
  const t = input.timeline;
  const body =
    'svg' in t
      ? `<p>${t.rows} run(s); peak ${t.peak} RUNNING at once. Also in <a href="concurrency.svg">concurrency.svg</a>.</p>${t.svg}`
      : `<p>No timeline: ${e(t.missing)}</p>`;
  return `<section id="timeline"><h2>Concurrency timeline</h2>${body}</section>`;
}

function renderShotAndNotes(input: ReportInput): string {
  const shot = input.screenshot
    ? `<img class="shot" alt="the run page in Prefect's UI" src="data:image/png;base64,${input.screenshot.png.toString('base64')}">`
    : '<p>No screenshot in this bundle.</p>';
  const notes = input.notes === undefined ? '<p>No notes.md.</p>' : renderNotesMarkdown(input.notes);
  return (
    `<section id="screenshot"><h2>Run page</h2>${shot}</section>` +
    `<section id="notes"><h2>Notes</h2><div class="notes">${notes}</div></section>`
  );
}

function renderFiles(input: ReportInput): string {
  const files = input.files.map((f) => `<li><a href="${e(encodeURI(f))}">${e(f)}</a></li>`).join('');
  return `<section id="files"><h2>Files</h2><details><summary>${input.files.length} file(s) in the bundle</summary><ul>${files}</ul></details></section>`;
}

/**
 * The whole report: one file with inline CSS and SVG, no script, nothing fetched. It leads with the why
 * (the banner names what failed and its fix) and the timeline that shows it; passes and detail fold away.
 */
export function renderReportHtml(input: ReportInput): string {
  return [
    '<!DOCTYPE html>',
    '<html lang="en"><head><meta charset="utf-8">',
    `<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'">`,
    `<title>rehearsal ${e(input.summary.bundle)}: ${e(input.summary.verdict)}</title>`,
    `<style>${STYLE}</style></head><body>`,
    renderBanner(input.summary),
    renderTimeline(input),
    renderChecks(input.summary),
    renderDrift(input.summary),
    renderShotAndNotes(input),
    renderCommands(input.summary),
    renderFiles(input),
    '</body></html>\n',
  ].join('\n');
}
