// @ts-check
// The result table every row adds to (addRow, judge, failRow, notes, raw), and the figures' formats.
import os from 'node:os';
import { tailOf } from '../../dist/errors.js';
import { quick } from './options.js';

/**
 * A row of the result table. `met` is true/false, or null when there is no goal or it is not judged (--quick).
 * @typedef {{ row: string, figure: string, goal: string, met: boolean | null, verdict: string, ratio?: number, error?: string, [key: string]: unknown }} Row
 */

/** @param {string} message */
export const log = (message) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
/**
 * @param {number[]} values
 * @returns {number}
 */
export const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  const at = (/** @type {number} */ i) => sorted[i] ?? Number.NaN;
  return sorted.length % 2 ? at(mid) : (at(mid - 1) + at(mid)) / 2;
};
/**
 * @param {number | null | undefined} n
 * @param {number} [digits]
 */
export const round = (n, digits = 2) =>
  n === undefined || n === null || Number.isNaN(n) ? null : Number(n.toFixed(digits));
/** @param {number} n */
export const ms = (n) =>
  n >= 10_000
    ? `${(n / 1000).toFixed(1)} s`
    : n >= 1000
      ? `${(n / 1000).toFixed(2)} s`
      : `${n.toFixed(n < 10 ? 1 : 0)} ms`;
/** @param {number} kb */
export const mb = (kb) => `${(kb / 1024).toFixed(0)} MB`;
/** @param {number} ratio */
export const x = (ratio) => `${ratio.toFixed(2)}x`;
/**
 * @param {string} text
 * @param {number} [lines]
 */
export const tail = (text, lines = 15) => tailOf(text, lines).join('\n');

/** The machine's load when each row starts: single-run timings mean little on a busy machine. */
/** @type {{ row: string, load1: number | null, load5: number | null }[]} */
export const loads = [];
/** @param {string} row `row N` */
export function noteLoad(row) {
  const [one, five] = os.loadavg();
  loads.push({ row, load1: round(one), load5: round(five) });
}

/** @type {Row[]} */
export const rows = [];
/** @type {string[]} */
export const notes = [];
/** Every figure behind the table, written to results.json. @type {Record<string, any>} */
export const raw = {};
export let crashed = false;

/**
 * A row: `met` is true/false, or null when there is no goal or it is not judged (--quick).
 * @param {Row} row
 */
export function addRow(row) {
  rows.push(row);
  return row;
}
/**
 * @param {boolean} goalMet
 * @param {string} reason
 * @returns {{ met: boolean | null, verdict: string }}
 */
export function judge(goalMet, reason) {
  if (quick) return { met: null, verdict: 'not judged (--quick)' };
  return goalMet ? { met: true, verdict: 'met' } : { met: false, verdict: `not met: ${reason}` };
}
/**
 * @param {string} row
 * @param {unknown} error
 */
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
/**
 * @param {number[]} sizes
 * @param {(size: number) => number} perUnit
 */
export function curve(sizes, perUnit) {
  const values = sizes.map((size) => perUnit(size));
  return { values, ratio: (values.at(-1) ?? Number.NaN) / (values[0] ?? Number.NaN) };
}

/**
 * The figures measured at `size`: a row reads back only sizes it measured, so none there is the bench's own bug.
 * @template T
 * @param {Record<number, T>} results
 * @param {number | undefined} size
 * @param {string} row
 * @returns {T}
 */
export function figuresAt(results, size, row) {
  const found = size === undefined ? undefined : results[size];
  if (found === undefined) throw new Error(`${row}: no figures at ${size}`);
  return found;
}

export function printTable() {
  const header = ['row', 'figure', 'goal', 'met'];
  const body = rows.map((r) => [r.row, r.figure, r.goal, r.verdict]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => (b[i] ?? '').length)));
  const line = (/** @type {string[]} */ cells) => `| ${cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join(' | ')} |`;
  const out = [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...body.map(line)];
  process.stdout.write(`\n${out.join('\n')}\n`);
  if (notes.length) process.stdout.write(`\nNotes\n${notes.map((n) => `- ${n}`).join('\n')}\n`);
}
