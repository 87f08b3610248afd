// @ts-check
// What a rehearsal left in its working directory: the newest bundle, its commands, its RSS.
import fs from 'node:fs';
import path from 'node:path';
import { BUNDLE_NAME } from '../../dist/bundle/bundle.js';

/**
 * The newest bundle under a working directory's evidence root.
 * @param {string} cwd
 * @returns {string | undefined}
 */
export function bundleIn(cwd) {
  const root = path.join(cwd, 'dist', 'staging', 'backfill');
  const names = fs.existsSync(root)
    ? fs
        .readdirSync(root)
        .filter((n) => BUNDLE_NAME.test(n))
        .sort()
    : [];
  const newest = names.at(-1);
  return newest === undefined ? undefined : path.join(root, newest);
}

/**
 * @param {string} file
 * @returns {any} the file's JSON, as the caller knows it
 */
export function readJson(file) {
  return JSON.parse(fs.readFileSync(file, 'utf8'));
}

/**
 * @param {string} file
 * @returns {number | undefined}
 */
export function readRssKB(file) {
  try {
    const kb = Number(fs.readFileSync(file, 'utf8').trim());
    return Number.isFinite(kb) && kb > 0 ? kb : undefined;
  } catch {
    return undefined;
  }
}

/**
 * @typedef {{ kind?: string, file?: string, args?: string[], durationMs?: number, [key: string]: unknown }} RecordedCommand
 */

/**
 * Commands recorded in a bundle's summary.json, with the step that ran them.
 * @template {RecordedCommand} C
 * @param {{ steps: { name: string, commands?: C[] }[] }} summary
 * @returns {(C & { step: string })[]}
 */
export function recordedCommands(summary) {
  return summary.steps.flatMap((step) => (step.commands ?? []).map((command) => ({ step: step.name, ...command })));
}
/** @param {RecordedCommand} command */
export const startsPython = (command) =>
  command.kind === 'process' && command.file === 'uv' && command.args?.[0] === 'run';

/** `uv run prefect deployment inspect ...` → `prefect deployment inspect` (for notes). */
/** @param {string[]} args */
export const shortCommand = (args) =>
  args
    .slice(1)
    .filter((a) => !a.startsWith('-') && !/^[{[]/.test(a) && !/[/]/.test(a) && !/^[0-9a-f-]{36}$/.test(a))
    .slice(0, 3)
    .join(' ');

/**
 * The length of the union of [from, to] spans, in ms.
 * @param {[number, number][]} spans
 */
export function unionMs(spans) {
  let covered = 0;
  let end = -Infinity;
  for (const [from, to] of [...spans].sort((a, b) => a[0] - b[0])) {
    if (to <= end) continue;
    covered += to - Math.max(from, end);
    end = to;
  }
  return covered;
}
