// The result table every row adds to (addRow, judge, failRow, notes, raw), and the figures' formats.
import os from 'node:os';
import { tailOf } from '../../dist/errors.js';
import { quick } from './options.js';

export const log = (message) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
export const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};
export const round = (n, digits = 2) =>
  n === undefined || n === null || Number.isNaN(n) ? null : Number(n.toFixed(digits));
export const ms = (n) =>
  n >= 10_000
    ? `${(n / 1000).toFixed(1)} s`
    : n >= 1000
      ? `${(n / 1000).toFixed(2)} s`
      : `${n.toFixed(n < 10 ? 1 : 0)} ms`;
export const mb = (kb) => `${(kb / 1024).toFixed(0)} MB`;
export const x = (ratio) => `${ratio.toFixed(2)}x`;
export const tail = (text, lines = 15) => tailOf(text, lines).join('\n');

/** The machine's load when each row starts: single-run timings mean little on a busy machine. */
export const loads = [];
export function noteLoad(row) {
  const [one, five] = os.loadavg();
  loads.push({ row, load1: round(one), load5: round(five) });
}

export const rows = [];
export const notes = [];
export const raw = {};
export let crashed = false;

/** A row: `met` is true/false, or null when there is no goal or it is not judged (--quick). */
export function addRow(row) {
  rows.push(row);
  return row;
}
export function judge(goalMet, reason) {
  if (quick) return { met: null, verdict: 'not judged (--quick)' };
  return goalMet ? { met: true, verdict: 'met' } : { met: false, verdict: `not met: ${reason}` };
}
export function failRow(row, error) {
  crashed = true;
  const message = error instanceof Error ? error.message : String(error);
  log(`${row}: ERROR ${message}`);
  addRow({
    row,
    figure: `error: ${message.split('\n')[0]}`,
    goal: '',
    met: false,
    verdict: 'not met: the bench could not measure it',
    error: message,
  });
}

/** A curve's per-unit figures, and the largest size's over the smallest's (flat means about 1). */
export function curve(sizes, perUnit) {
  const values = sizes.map(perUnit);
  return { values, ratio: values.at(-1) / values[0] };
}

export function printTable() {
  const header = ['row', 'figure', 'goal', 'met'];
  const body = rows.map((r) => [r.row, r.figure, r.goal, r.verdict]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells) => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`;
  const out = [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...body.map(line)];
  process.stdout.write(`\n${out.join('\n')}\n`);
  if (notes.length) process.stdout.write(`\nNotes\n${notes.map((n) => `- ${n}`).join('\n')}\n`);
}
