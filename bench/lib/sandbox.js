// @ts-check
// The sandbox a group of rows shares: started for them, stopped at the end whatever happens.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { sandboxEnvCommand } from '../../dist/commands/sandbox.js';
import { readSandboxState } from '../../dist/sandbox/state.js';
import { cli, keep, node, repo } from './options.js';
import { mkdtemp, runProcess, stopLive } from './processes.js';
import { log, raw, tail } from './table.js';

/** Reporter for rehearse's own commands called in-process: the bench prints its own lines. */
const silent = { emit() {}, async close() {} };

/** What `rehearse sandbox env` exports (the same keys, from the command itself: nothing to parse). */
/** @param {string} home */
async function sandboxEnv(home) {
  const result = await sandboxEnvCommand({ stateDir: home, reporter: silent });
  if (result.exitCode !== 0) throw new Error(`sandbox env: ${result.lines?.join(' ') ?? `exit ${result.exitCode}`}`);
  return Object.fromEntries(Object.entries(result.data ?? {}).filter(([, value]) => typeof value === 'string'));
}

/** The bench's environment without an inherited REHEARSE_BENCH_RSS_FILE, plus `extra`. */
export function cleanEnv(extra = {}) {
  const env = { ...process.env };
  delete env.REHEARSE_BENCH_RSS_FILE;
  return { ...env, ...extra };
}

/**
 * The sandbox rows share: its temporary folders (`cleanup`), and once it is up, its API, project and environment.
 * @typedef {{ work: string, home: string, cleanup: string[], apiUrl?: string, projectDir?: string, exported?: Record<string, string>, scriptEnv?: NodeJS.ProcessEnv }} Sandbox
 * @typedef {Sandbox & { apiUrl: string, projectDir: string, exported: Record<string, string>, scriptEnv: NodeJS.ProcessEnv }} ReadySandbox
 */

/**
 * What a row gets: --quick, the table it adds to, the sandbox of its group (none for a row that needs none, or
 * that runs after its group's sandbox is down), and the figures rows hand on (row 5 reads rows 2 and 4's, row 7
 * row 4's SQLite write).
 * @typedef {{ quick: boolean, table: typeof import('./table.js'), sandbox?: ReadySandbox, shared: Shared }} RowContext
 * @typedef {{ ms: number, requests: number, retried: number, concurrency: number }} SqliteWrite
 * @typedef {{ backfill?: { maxRssKB: number | undefined }, validate?: { validate100KB: number | undefined, validate1000KB: number | undefined, sqliteWrite: SqliteWrite | undefined } }} Shared
 */

/**
 * A row (one file under bench/rows/): `needs` names the sandbox it runs in, `uses` the rows whose figures it
 * reads, `smoke` that it runs (at smoke sizes) under --quick when named, `afterSandbox` that it runs once its
 * group's sandbox is down, `untimed` that it times nothing (the load at its start is not noted).
 * @typedef {{ id: number, title: string, needs: 'none' | 'sqlite' | 'postgres', uses?: number[], smoke?: boolean, afterSandbox?: boolean, untimed?: boolean, run: (ctx: RowContext) => unknown }} BenchRow
 */

/**
 * @template T
 * @param {(sandbox: ReadySandbox) => Promise<T>} body
 * @param {string[]} [upArgs] flags for `sandbox up` (`--database postgres`)
 * @returns {Promise<T>}
 */
export async function withSandbox(body, upArgs = []) {
  const work = mkdtemp('rehearse-bench-');
  const home = path.join(work, 'sandbox');
  /** @type {Sandbox} */
  const sandbox = { work, home, cleanup: [work] };
  const env = cleanEnv({ REHEARSE_SANDBOX_HOME: home });
  const down = () =>
    spawnSync(node, [cli, 'sandbox', 'down', '--purge', '--ci'], {
      cwd: repo,
      env,
      encoding: 'utf8',
      timeout: 120_000,
    });
  stopSandbox = down;
  try {
    log(`sandbox up (REHEARSE_SANDBOX_HOME=${home})`);
    const up = await runProcess(node, [cli, 'sandbox', 'up', ...upArgs, '--ci'], {
      env,
      timeoutMs: 420_000,
      label: `sandbox up ${upArgs.join(' ')}`.trim(),
    });
    raw[upArgs.length ? 'postgresSandboxUpMs' : 'sandboxUpMs'] = up.ms;
    if (up.code !== 0) throw new Error(`sandbox up exited ${up.code}: ${tail(up.stdout + up.stderr, 12)}`);
    const exported = await sandboxEnv(home);
    const state = await readSandboxState(home);
    if (!state) throw new Error(`no sandbox state in ${home} after sandbox up`);
    const ready = Object.assign(sandbox, {
      apiUrl: state.apiUrl,
      projectDir: state.projectDir,
      exported,
      scriptEnv: cleanEnv(exported),
    });
    raw.sandbox = { apiUrl: state.apiUrl, exported };
    return await body(ready);
  } finally {
    log('sandbox down --purge');
    const result = down();
    stopSandbox = undefined;
    if (result.status !== 0)
      log(`sandbox down exited ${result.status}: ${tail(`${result.stdout}${result.stderr}`, 5)}`);
    if (!keep) for (const dir of sandbox.cleanup) fs.rmSync(dir, { recursive: true, force: true });
    else log(`kept ${sandbox.cleanup.join(', ')}`);
  }
}

/**
 * The sandbox of a row's group: a row that needs one runs inside withSandbox, so none is the bench's own bug.
 * @param {RowContext} ctx
 * @param {string} row
 * @returns {ReadySandbox}
 */
export function sandboxOf(ctx, row) {
  if (!ctx.sandbox) throw new Error(`${row} needs its group's sandbox`);
  return ctx.sandbox;
}

/** @type {(() => unknown) | undefined} */
let stopSandbox;
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    log(`${signal}: stopping the bench's processes and its sandbox`);
    stopLive();
    stopSandbox?.();
    process.exit(130);
  });
}
