import type { Summary } from '../summary.js';
import { escapeHtml as e, renderNotesMarkdown } from './escape.js';

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

const STYLE = `body{font:14px/1.45 system-ui,sans-serif;margin:0 auto;max-width:1040px;padding:16px;color:#1c1c1c}
h1{font-size:20px}h2{font-size:17px;border-bottom:1px solid #ddd;margin-top:28px}
table{border-collapse:collapse;margin:8px 0;font-size:13px}td,th{border:1px solid #ddd;padding:3px 6px;text-align:left;vertical-align:top}
code,.cmd{font:12px ui-monospace,monospace;word-break:break-all}.banner{padding:12px 16px;border-radius:6px;color:#fff}
.verdict-pass{background:#1f6f3f}.verdict-fail{background:#c9352b}.verdict-inconclusive{background:#b7791f}.verdict-incomplete{background:#5c5c5c}
.banner dl{display:grid;grid-template-columns:max-content 1fr;gap:2px 12px;margin:8px 0 0}.banner dt{opacity:.85}.banner dd{margin:0}
td.pass{color:#1f6f3f}td.fail{color:#c9352b;font-weight:bold}td.inconclusive,td.error{color:#b7791f;font-weight:bold}
.timeline{max-width:100%;height:auto}.shot{max-width:100%;border:1px solid #ccc}.notes{background:#fafafa;padding:4px 12px;border:1px solid #eee}`;

const json = (value: unknown): string => (value === undefined ? '' : e(JSON.stringify(value)));
const text = (value: unknown): string => (typeof value === 'string' ? value : '');

function renderBanner(summary: Summary): string {
  const rows: [string, string][] = [
    ['exit code', `${summary.exitCode} (${exitMeaning(summary)})`],
    ['status', summary.status],
    ['deployment', text(summary.target.deployment)],
    ['work pool', text(summary.target.workPool)],
    ['server', summary.prefect.apiUrl ?? ''],
    ['Prefect', summary.prefect.version ?? ''],
    ['bundle', `${summary.bundle} (created ${summary.createdAt}, updated ${summary.updatedAt})`],
  ];
  return `<section class="banner verdict-${e(summary.verdict)}"><h1>Backfill rehearsal: ${e(summary.verdict.toUpperCase())}</h1><dl>${rows
    .map(([k, v]) => `<dt>${e(k)}</dt><dd>${e(v)}</dd>`)
    .join('')}</dl></section>`;
}

function renderChecks(summary: Summary): string {
  const body = summary.steps
    .map((step) => {
      const head = `<h3>${e(step.name)}: ${e(step.title)} <small>(${e(step.status)}, ${e(step.verdict)})</small></h3>`;
      const error = step.error
        ? `<p class="error">${e(step.error.code)}: ${e(step.error.message)}${step.error.hint ? ` (${e(step.error.hint)})` : ''}</p>`
        : '';
      if (step.checks.length === 0) return `${head}${error}`;
      const rows = step.checks.map(
        (c) =>
          `<tr><td class="${e(c.verdict)}">${e(c.verdict)}</td><td>${e(c.title)}<br><code>${e(c.id)}</code></td><td>${e(c.reason)}</td><td><code>${json(c.expected)}</code></td><td><code>${json(c.actual)}</code></td></tr>`,
      );
      return `${head}${error}<table><tr><th>verdict</th><th>check</th><th>reason</th><th>expected</th><th>measured</th></tr>${rows.join('')}</table>`;
    })
    .join('');
  return `<section id="checks"><h2>Checks by step</h2>${body}</section>`;
}

function renderDrift(summary: Summary): string {
  const render = summary.steps.find((s) => s.name === 'render')?.data;
  const keys = Array.isArray(render?.driftedKeys) ? render.driftedKeys : [];
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
  return `<section id="commands"><h2>Commands and API calls</h2><table><tr><th>step</th><th>command</th><th>result</th><th>duration</th></tr>${rows.join('')}</table></section>`;
}

function renderTimeline(input: ReportInput): string {
  const t = input.timeline;
  const body =
    'svg' in t
      ? `<p>${t.rows} run(s); peak ${t.peak} RUNNING at once. Also in <a href="concurrency.svg">concurrency.svg</a>.</p>${t.svg}`
      : `<p>No timeline: ${e(t.missing)}</p>`;
  return `<section id="timeline"><h2>Concurrency timeline</h2>${body}</section>`;
}

function renderRest(input: ReportInput): string {
  const shot = input.screenshot
    ? `<img class="shot" alt="the run page in Prefect's UI" src="data:image/png;base64,${input.screenshot.png.toString('base64')}">`
    : '<p>No screenshot in this bundle.</p>';
  const files = input.files.map((f) => `<li><a href="${e(encodeURI(f))}">${e(f)}</a></li>`).join('');
  const notes = input.notes === undefined ? '<p>No notes.md.</p>' : renderNotesMarkdown(input.notes);
  return (
    `<section id="screenshot"><h2>Run page</h2>${shot}</section>` +
    `<section id="files"><h2>Files</h2><ul>${files}</ul></section>` +
    `<section id="notes"><h2>Notes</h2><div class="notes">${notes}</div></section>`
  );
}

/** The whole report: one file with inline CSS and SVG, no script, nothing fetched. */
export function renderReportHtml(input: ReportInput): string {
  return [
    '<!DOCTYPE html>',
    '<html lang="en"><head><meta charset="utf-8">',
    `<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'">`,
    `<title>rehearsal ${e(input.summary.bundle)}: ${e(input.summary.verdict)}</title>`,
    `<style>${STYLE}</style></head><body>`,
    renderBanner(input.summary),
    renderChecks(input.summary),
    renderTimeline(input),
    renderDrift(input.summary),
    renderCommands(input.summary),
    renderRest(input),
    '</body></html>\n',
  ].join('\n');
}
