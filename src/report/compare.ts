import { stepData } from '../bundle/step-data.js';
import type { Summary } from '../bundle/summary.js';
import { escapeHtml as e } from './escape.js';

const STYLE =
  'body{font:14px/1.45 system-ui,sans-serif;margin:16px;color:#1c1c1c}table{border-collapse:collapse;font-size:13px}' +
  'td,th{border:1px solid #ddd;padding:3px 6px;text-align:left;vertical-align:top}tr.changed td{background:#fff4d6}' +
  'code{font:12px ui-monospace,monospace}';

const show = (value: unknown): string => (value === undefined ? '' : `<code>${e(JSON.stringify(value))}</code>`);

function headlineRows(older: Summary, newer: Summary): [string, unknown, unknown][] {
  const validate = (s: Summary) => stepData(s, 'validate') ?? {};
  return [
    ['bundle', older.bundle, newer.bundle],
    ['verdict', older.verdict, newer.verdict],
    ['status', older.status, newer.status],
    ['exit code', older.exitCode, newer.exitCode],
    ['deployment', older.target.deployment, newer.target.deployment],
    ['Prefect', older.prefect.version, newer.prefect.version],
    ['peak RUNNING', validate(older).peak, validate(newer).peak],
    ['peak slot holders', validate(older).holderPeak, validate(newer).holderPeak],
  ];
}

function checkRows(older: Summary, newer: Summary): string[] {
  const before = new Map(older.checks.map((c) => [c.id, c]));
  const after = new Map(newer.checks.map((c) => [c.id, c]));
  const ids = [...new Set([...before.keys(), ...after.keys()])].sort();
  return ids.map((id) => {
    const a = before.get(id);
    const b = after.get(id);
    const cells = (c: typeof a): string =>
      c
        ? `<td>${e(c.verdict)}</td><td>${show(c.expected)}</td><td>${show(c.actual)}</td>`
        : '<td colspan="3">(none)</td>';
    const changed =
      JSON.stringify([a?.verdict, a?.expected, a?.actual]) !== JSON.stringify([b?.verdict, b?.expected, b?.actual]);
    return `<tr${changed ? ' class="changed"' : ''}><td><code>${e(id)}</code></td>${cells(a)}${cells(b)}</tr>`;
  });
}

/** Two bundles side by side: what changed since the last rehearsal. Rows that differ are marked. */
export function renderCompareHtml(older: Summary, newer: Summary): string {
  const head = headlineRows(older, newer).map(([label, a, b]) => {
    const changed = JSON.stringify(a) !== JSON.stringify(b);
    return `<tr${changed ? ' class="changed"' : ''}><th>${e(label)}</th><td>${e(a ?? '')}</td><td>${e(b ?? '')}</td></tr>`;
  });
  return [
    '<!DOCTYPE html>',
    `<html lang="en"><head><meta charset="utf-8"><meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">`,
    `<title>rehearsal ${e(older.bundle)} vs ${e(newer.bundle)}</title><style>${STYLE}</style></head><body>`,
    `<h1>Rehearsal ${e(older.bundle)} → ${e(newer.bundle)}</h1>`,
    `<table><tr><th></th><th>older</th><th>newer</th></tr>${head.join('')}</table>`,
    '<h2>Guardrail checks</h2>',
    '<table><tr><th rowspan="2">check</th><th colspan="3">older</th><th colspan="3">newer</th></tr>',
    `<tr><th>verdict</th><th>expected</th><th>measured</th><th>verdict</th><th>expected</th><th>measured</th></tr>${checkRows(older, newer).join('')}</table>`,
    '</body></html>\n',
  ].join('\n');
}
