// @ts-check
// A rehearse command measured with bench/cost-hook.js (rows 12 and 13): its own CPU, requests per route,
// bytes read and peak RSS, beside its wall time.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';

const benchDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const repo = path.resolve(benchDir, '..');
const cli = path.join(repo, 'bin', 'rehearse.js');
const costHook = pathToFileURL(path.join(benchDir, 'cost-hook.js')).href;

/** @param {string} message */
export const log = (message) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);

/**
 * @typedef {{calls: number, bytes: number, noLength: number}} RouteCost
 * @typedef {{ownCpuUs: number, childTicks: number | null, maxRssKB: number, requests: number,
 *   routes: Record<string, RouteCost>}} Cost
 * @typedef {{code: number | null, ms: number, stdout: string, stderr: string, cost: Cost | undefined}} Measured
 */

/**
 * The environment of a measured command: the caller's, without proxy variables (the hook counts the global
 * fetch, which rehearse uses only without a proxy) and without an inherited bench file, plus `extra`.
 * @param {Record<string, string>} extra
 */
function measuredEnv(extra) {
  /** @type {NodeJS.ProcessEnv} */
  const env = { ...process.env };
  for (const name of Object.keys(env)) {
    if (/^(https?_proxy|no_proxy|REHEARSE_BENCH_.*)$/i.test(name)) delete env[name];
  }
  return { ...env, ...extra };
}

/**
 * `node --import cost-hook bin/rehearse.js ...args` in `cwd` against the sandbox at `home`.
 * @param {string[]} args
 * @param {{cwd: string, home: string, timeoutMs?: number}} options
 * @returns {Promise<Measured>}
 */
export function runMeasured(args, { cwd, home, timeoutMs = 900_000 }) {
  const costFile = path.join(cwd, `cost-${Date.now()}-${Math.random().toString(36).slice(2)}.json`);
  const env = measuredEnv({ REHEARSE_SANDBOX_HOME: home, REHEARSE_BENCH_COST_FILE: costFile });
  return new Promise((resolve) => {
    const started = performance.now();
    const child = spawn(process.execPath, ['--import', costHook, cli, ...args], {
      cwd,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    let stdout = '';
    let stderr = '';
    /** @type {number | undefined} */
    let exitedAt;
    child.stdout.on('data', (chunk) => {
      stdout += chunk;
    });
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
    });
    const timer = setTimeout(() => {
      log(`rehearse ${args[0]}: no end after ${Math.round(timeoutMs / 1000)} s, stopping it`);
      try {
        process.kill(-(child.pid ?? 0), 'SIGKILL');
      } catch {
        // already gone
      }
    }, timeoutMs);
    child.on('exit', () => {
      exitedAt = performance.now();
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      /** @type {Cost | undefined} */
      let cost;
      try {
        cost = JSON.parse(fs.readFileSync(costFile, 'utf8'));
      } catch {
        cost = undefined;
      }
      resolve({ code, ms: (exitedAt ?? performance.now()) - started, stdout, stderr, cost });
    });
  });
}

/** @param {string} prefix */
export const mkdtemp = (prefix) => fs.mkdtempSync(path.join(os.tmpdir(), prefix));

/** The newest bundle under a working directory's evidence root. @param {string} cwd */
function newestBundle(cwd) {
  const root = path.join(cwd, 'dist', 'staging', 'backfill');
  const names = fs.existsSync(root)
    ? fs
        .readdirSync(root)
        .filter((n) => /^\d{8}T\d{6}Z/.test(n))
        .sort()
    : [];
  const last = names.at(-1);
  return last ? path.join(root, last) : undefined;
}

/**
 * What the bench reads of a bundle's summary.json.
 * @typedef {{kind: string, method?: string, url?: string, file?: string, args?: string[], startedAt: string, durationMs: number}} Recorded
 * @typedef {{name: string, status: string, durationMs: number, startedAt: string, commands?: Recorded[],
 *   checks?: {id: string, verdict: string, reason?: string}[], data?: Record<string, unknown>}} SummaryStep
 * @typedef {{verdict: string, status: string, steps: SummaryStep[]}} Summary
 * @param {string} bundle
 * @returns {Summary}
 */
const readSummaryJson = (bundle) => JSON.parse(fs.readFileSync(path.join(bundle, 'summary.json'), 'utf8'));

/** A step's requests (the journal's http commands) and duration. @param {Summary} summary @param {string} name */
export function stepCost(summary, name) {
  const step = summary.steps.find((s) => s.name === name);
  const http = (step?.commands ?? []).filter((c) => c.kind === 'http');
  return { requests: http.length, ms: step?.durationMs ?? 0, present: Boolean(step) };
}

/** The checks that did not pass, as `step/check: verdict`. @param {Summary} summary */
export const notPassed = (summary) =>
  summary.steps.flatMap((s) =>
    (s.checks ?? []).filter((c) => c.verdict !== 'pass').map((c) => `${s.name}/${c.id}: ${c.verdict}`),
  );

/** @param {string} text @param {number} lines */
export const tailText = (text, lines = 12) => text.trim().split('\n').slice(-lines).join('\n');

/**
 * `rehearse backfill` measured in `cwd` with its bundle under `cwd/shared`, and that bundle's summary.json. A
 * rehearsal that ends 0, 1 or 4 (pass, fail, inconclusive) is measured alike; any other end throws with its output.
 * @param {string[]} args after `backfill --sandbox`
 * @param {{cwd: string, home: string}} options
 */
export async function measuredBackfill(args, { cwd, home }) {
  const all = ['backfill', '--sandbox', ...args, '--to', path.join(cwd, 'shared'), '--ci'];
  const run = await runMeasured(all, { cwd, home });
  const bundle = newestBundle(cwd);
  if (![0, 1, 4].includes(run.code ?? -1) || !bundle || !run.cost)
    throw new Error(
      `backfill ${args.join(' ')} exited ${run.code}${bundle ? '' : ', no bundle'}\n${tailText(run.stdout + run.stderr)}`,
    );
  return { run: { ...run, cost: run.cost }, bundle, summary: readSummaryJson(bundle) };
}
