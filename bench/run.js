#!/usr/bin/env node
// @ts-check
// rehearse's performance bench (issue 5). Every figure is a ratio or growth factor measured side by
// side in this run; each row prints its goal beside its figure and says met / not met.
//
//   npm run bench                 build, then every row (starts and stops its own sandbox; ~5-10 min)
//   node bench/run.js --quick     CI smoke: small sizes, < 60 s, checks completion only (never a time)
//   node bench/run.js --strict    exit 1 when a goal is not met (default: exit 1 only if something crashed)
//   node bench/run.js --keep      keep the temporary working directories (bundles, logs) for a look
//   node bench/run.js --row=7     only the rows named (comma-separated); results.json is kept for full runs
//
// Writes bench/results.json (gitignored) with every raw number, the machine and the date.
//
// One file a row under bench/rows/, each default-exporting { id, title, needs, run(ctx) }: needs is 'none', 'sqlite'
// or 'postgres' (the sandbox the row runs in, shared by the rows of its group), ctx is { quick, table, sandbox,
// shared } (shared carries figures between rows: row 5 reads rows 2 and 4's). A row that `uses` others has them run
// too. A sandbox row runs under --quick only when named and marked `smoke` (it then runs at smoke sizes).
// Helpers in bench/lib/.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { readJson } from './lib/bundles.js';
import { onlyRows, quick, repo, resultsFile, strict, wanted } from './lib/options.js';
import { stopLive } from './lib/processes.js';
import { withSandbox } from './lib/sandbox.js';
import * as table from './lib/table.js';
import burstGrowth from './rows/burst-growth.js';
import ci from './rows/ci.js';
import history from './rows/history.js';
import memory from './rows/memory.js';
import peak from './rows/peak.js';
import pickup from './rows/pickup.js';
import postgresWrite from './rows/postgres-write.js';
import rehearsal from './rows/rehearsal.js';
import report from './rows/report.js';
import reportGrowth from './rows/report-growth.js';
import startup from './rows/startup.js';
import validateServer from './rows/validate-server.js';
import windowRow from './rows/window.js';

const { failRow, log, loads, noteLoad, notes, ms, printTable, raw, round, rows } = table;

/** @typedef {import('./lib/sandbox.js').BenchRow} BenchRow */
/** @typedef {import('./lib/sandbox.js').RowContext} RowContext */

/** Every row, in the order they run; a sandbox group's rows share one sandbox. */
/** @type {BenchRow[]} */
const ROWS = [
  startup,
  peak,
  report,
  reportGrowth,
  windowRow,
  rehearsal,
  pickup,
  validateServer,
  memory,
  burstGrowth,
  postgresWrite,
  history,
  ci,
];

// Two workers for row 12's bursts (runs queue and overlap as in staging); rows 7 and 13 do not mind them.
/** @type {Record<'sqlite' | 'postgres', string[]>} */
const SANDBOX_ARGS = { sqlite: [], postgres: ['--database', 'postgres', '--workers', '2'] };
const SANDBOX_LABEL = { sqlite: '2/4 sandbox', postgres: '7/12/13 PostgreSQL sandbox' };

/** Named, or used by a named row. @param {BenchRow} row */
const included = (row) => wanted(row.id) || ROWS.some((other) => wanted(other.id) && other.uses?.includes(row.id));
/** A sandbox row under --quick runs only when named and able to (smoke sizes). @param {BenchRow} row */
const runs = (row) => included(row) && (row.needs === 'none' || !quick || (row.smoke && onlyRows.has(row.id)));

/**
 * @param {BenchRow} row
 * @param {RowContext} ctx
 */
async function runRow(row, ctx) {
  if (!row.untimed) noteLoad(`row ${row.id}`);
  try {
    await row.run(ctx);
  } catch (error) {
    failRow(row.title, error);
  }
}

/** The rows in order: a sandbox group's rows in one sandbox, its `afterSandbox` rows once it is down. */
/** @param {RowContext} ctx */
async function runRows(ctx) {
  for (let i = 0; i < ROWS.length; ) {
    const row = ROWS[i];
    if (!row) break;
    if (row.needs === 'none') {
      if (runs(row)) await runRow(row, ctx);
      i += 1;
      continue;
    }
    const end = ROWS.findIndex((other, k) => k > i && other.needs !== row.needs);
    const group = ROWS.slice(i, end === -1 ? ROWS.length : end);
    i += group.length;
    const inSandbox = group.filter((r) => !r.afterSandbox && runs(r));
    const after = group.filter((r) => r.afterSandbox && runs(r));
    if (inSandbox.length === 0 && after.length === 0) continue;
    try {
      await withSandbox(async (sandbox) => {
        for (const r of inSandbox) await runRow(r, { ...ctx, sandbox });
      }, SANDBOX_ARGS[row.needs]);
    } catch (error) {
      failRow(SANDBOX_LABEL[row.needs], error);
    }
    for (const r of after) await runRow(r, ctx);
  }
}

/**
 * @param {string} file
 * @param {string[]} args
 */
function toolVersion(file, args) {
  const result = spawnSync(file, args, { encoding: 'utf8' });
  return result.status === 0 ? result.stdout.trim() : null;
}

async function main() {
  const started = performance.now();
  log(
    `${quick ? 'quick (smoke) run: small sizes, completion only' : 'full run'} on ${os.cpus().length} CPU(s), node ${process.version}`,
  );

  await runRows({ quick, table, shared: {} });
  raw.load = loads;
  const busy = loads.filter((l) => (l.load1 ?? 0) > os.cpus().length * 0.5);
  if (busy.length)
    notes.push(
      `the machine was busy when ${busy.map((l) => `${l.row} started (load ${l.load1})`).join(', ')} on ${os.cpus().length} CPU(s): something else was running, and the timings carry its noise${quick ? '' : ' (most in rows 2 and 4, which time one run each)'}.`,
    );
  rows.sort((a, b) => parseInt(a.row, 10) - parseInt(b.row, 10)); // stable: within a row, the order they were added
  printTable();

  const results = {
    date: new Date().toISOString(),
    mode: quick ? 'quick' : 'full',
    durationMs: round(performance.now() - started, 0),
    machine: {
      cpus: os.cpus().length,
      cpuModel: os.cpus()[0]?.model ?? null,
      totalMemMB: Math.round(os.totalmem() / 1048576),
      platform: `${os.platform()} ${os.release()} ${os.arch()}`,
      node: process.version,
      uv: toolVersion('uv', ['--version']),
    },
    rehearse: readJson(path.join(repo, 'package.json')).version,
    rows: rows.map(({ row, figure, goal, met, verdict, ratio, error }) => ({
      row,
      figure,
      goal,
      met,
      verdict,
      ...(ratio === undefined ? {} : { ratio: round(ratio, 3) }),
      ...(error ? { error } : {}),
    })),
    notes,
    raw,
    crashed: table.crashed,
  };
  if (onlyRows.size === 0) {
    fs.writeFileSync(resultsFile, `${JSON.stringify(results, null, 2)}\n`);
    log(`wrote ${path.relative(process.cwd(), resultsFile) || resultsFile} in ${ms(performance.now() - started)}`);
  } else log(`rows ${[...onlyRows].join(', ')} in ${ms(performance.now() - started)} (results.json left as it was)`);
  if (table.crashed) return 1;
  if (strict && rows.some((r) => r.met === false)) return 1;
  return 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error) => {
    log(`crashed: ${error.stack ?? error}`);
    stopLive();
    process.exitCode = 1;
  },
);
