import net from 'node:net';
import path from 'node:path';
import fs from 'fs-extra';
import { RehearseError, tailOf } from '../errors.js';
import type { Command, ProcessRunner } from '../process/command.js';
import { succeeded } from '../process/command.js';
import { isAlive, processesWithEnv, spawnDetached, stopGroup } from '../process/daemon.js';
import { createPrefectApi, type PrefectApi } from '../prefect/api.js';
import { checkHealth, listWorkers, readGlobalLimit } from '../prefect/queries.js';
import { loadExpectedGuardrails, type ExpectedGuardrails } from '../guardrails/manifest.js';
import { FIXTURE_PROJECT, readSandboxState, removeSandboxState, sandboxProcessEnv, writeSandboxState, type SandboxState } from './state.js';

export interface SandboxOptions {
  stateDir: string;
  runner: ProcessRunner;
  port?: number;
  healthTimeoutMs?: number;
  onProgress?: (message: string) => void;
}

const MANIFEST_DIR = 'prefect/staging';
const MANIFEST = 'prefect/deployments/hotpass-backfill.yaml';
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

function fixtureCommand(state: Pick<SandboxState, 'apiUrl' | 'prefectHome'>, args: string[], timeoutMs = 300_000): Command {
  return { file: 'uv', args: ['run', ...args], cwd: FIXTURE_PROJECT, env: sandboxProcessEnv(state), readOnly: false, timeoutMs };
}

async function runOrFail(runner: ProcessRunner, command: Command, what: string): Promise<void> {
  const result = await runner.run(command);
  if (result.spawnError !== undefined) {
    throw new RehearseError('TOOL_MISSING', `uv is not installed or not on PATH (${result.spawnError})`, {
      hint: 'install it with `python3 -m pip install uv`, then run `rehearse sandbox up` again',
    });
  }
  if (!succeeded(result)) {
    throw new RehearseError('SANDBOX_FAILED', `sandbox: ${what} failed (exit ${result.exitCode ?? 'none'}${result.timedOut ? ', timed out' : ''})`, {
      details: tailOf(result.stdout + result.stderr),
      hint: 'see the output above; `rehearse sandbox down` then `rehearse sandbox up` starts afresh',
    });
  }
}

async function waitFor(what: string, timeoutMs: number, probe: () => Promise<boolean>): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await probe().catch(() => false)) return true;
    await sleep(500);
  }
  return false;
}

export function sandboxApi(state: Pick<SandboxState, 'apiUrl'>): PrefectApi {
  return createPrefectApi({ apiUrl: state.apiUrl, timeoutMs: 5_000 });
}

/** The sandbox is up when its server answers and its worker process lives. */
export async function sandboxHealth(state: SandboxState): Promise<{ server: boolean; worker: boolean; api: boolean }> {
  const api = await checkHealth(sandboxApi(state));
  return { server: isAlive(state.server.pid), worker: state.worker ? isAlive(state.worker.pid) : false, api: api.ok };
}

/** Pool limit, global limit, deployment: as the fixture's manifest says. Safe to repeat. */
export async function applyGuardrails(state: SandboxState, runner: ProcessRunner, expected: ExpectedGuardrails): Promise<void> {
  const pool = expected.workPool ?? 'hotpass-backfill-pool';
  const api = sandboxApi(state);
  const poolSetup = (async () => {
    await runOrFail(runner, fixtureCommand(state, ['prefect', 'work-pool', 'create', pool, '--type', 'process', '--overwrite']), `creating work pool ${pool}`);
    if (expected.deploymentLimit !== undefined) {
      await runOrFail(runner, fixtureCommand(state, ['prefect', 'work-pool', 'set-concurrency-limit', pool, String(expected.deploymentLimit)]), 'setting the work pool limit');
    }
    await runOrFail(runner, fixtureCommand(state, ['hotpass', 'deploy', '--manifest-dir', MANIFEST_DIR, '--flow', 'backfill']), 'deploying hotpass-backfill');
  })();
  const limitSetup = (async () => {
    const key = expected.concurrencyKey;
    if (!key) return;
    const limit = String(expected.keyLimit ?? expected.deploymentLimit ?? 1);
    const existing = await readGlobalLimit(api, key);
    const args = existing ? ['gcl', 'update', key, '--limit', limit, '--enable'] : ['gcl', 'create', key, '--limit', limit];
    await runOrFail(runner, fixtureCommand(state, ['prefect', ...args]), `setting global concurrency limit ${key}`);
  })();
  await Promise.all([poolSetup, limitSetup]);
}

export async function startWorker(state: SandboxState, pool: string): Promise<SandboxState['worker']> {
  const log = path.join(state.stateDir, 'worker.log');
  const pid = await spawnDetached(fixtureCommand(state, ['prefect', 'worker', 'start', '--pool', pool, '--type', 'process']), log);
  return { pid, log };
}

export async function waitForWorker(state: SandboxState, pool: string, timeoutMs: number): Promise<boolean> {
  return waitFor('worker', timeoutMs, async () => (await listWorkers(sandboxApi(state), pool)).some((w) => w.status === 'ONLINE'));
}

export interface UpResult {
  state: SandboxState;
  alreadyRunning: boolean;
}

/** Start (or find running) the local server, pool, limits, deployment and worker. */
export async function sandboxUp(options: SandboxOptions): Promise<UpResult> {
  const progress = options.onProgress ?? (() => undefined);
  const previous = await readSandboxState(options.stateDir);
  if (previous) {
    const health = await sandboxHealth(previous);
    if (health.api && health.worker) return { state: previous, alreadyRunning: true };
    if (health.api && health.server && previous.workPool) {
      progress('the server runs but its worker does not: restarting the worker');
      const worker = await startWorker(previous, previous.workPool);
      const state = { ...previous, ...(worker ? { worker } : {}) };
      await writeSandboxState(state);
      if (await waitForWorker(state, previous.workPool, 90_000)) return { state, alreadyRunning: false };
    }
    progress('a previous sandbox is half up: stopping it first');
    await sandboxDown(options.stateDir);
  }
  const expected = await loadExpectedGuardrails(FIXTURE_PROJECT, MANIFEST);
  const uv = await options.runner.run({ file: 'uv', args: ['--version'], readOnly: true, timeoutMs: 30_000 });
  if (uv.spawnError !== undefined) {
    throw new RehearseError('TOOL_MISSING', 'uv is not installed or not on PATH', { hint: 'install it with `python3 -m pip install uv`, then run `rehearse sandbox up` again' });
  }
  let port = options.port;
  if (port !== undefined && !(await portIsFree(port))) {
    throw new RehearseError('PORT_BUSY', `port ${port} on 127.0.0.1 is already in use`, { hint: 'pick another with --port, or omit --port to use a free one' });
  }
  port ??= await freePort();
  await fs.ensureDir(options.stateDir);
  const apiUrl = `http://127.0.0.1:${port}/api`;
  const base = { apiUrl, prefectHome: path.join(options.stateDir, 'prefect-home') };
  progress(`starting the Prefect server on 127.0.0.1:${port}`);
  const serverLog = path.join(options.stateDir, 'server.log');
  const serverPid = await spawnDetached(fixtureCommand(base, ['prefect', 'server', 'start', '--host', '127.0.0.1', '--port', String(port), '--analytics-off']), serverLog);
  let state: SandboxState = {
    version: 1, ...base, uiUrl: `http://127.0.0.1:${port}`, port, stateDir: options.stateDir, projectDir: FIXTURE_PROJECT,
    startedAt: new Date().toISOString(), server: { pid: serverPid, log: serverLog },
    deployment: `hotpass-backfill/${expected.deploymentName}`, ...(expected.workPool ? { workPool: expected.workPool } : {}),
    ...(expected.concurrencyKey ? { concurrencyKey: expected.concurrencyKey } : {}),
  };
  await writeSandboxState(state);
  const healthy = await waitFor('server', options.healthTimeoutMs ?? 180_000, async () => {
    if (!isAlive(serverPid)) throw new Error('server exited');
    return (await checkHealth(sandboxApi(state))).ok;
  });
  if (!healthy) {
    const log = (await fs.readFile(serverLog, 'utf8').catch(() => '')).toString();
    await sandboxDown(options.stateDir);
    throw new RehearseError('SANDBOX_FAILED', `the Prefect server never became healthy at ${apiUrl}/health`, {
      details: tailOf(log),
      hint: `see ${serverLog}; a port taken by another program or a broken ${FIXTURE_PROJECT}/.venv are the usual causes`,
    });
  }
  progress('creating the work pool, global concurrency limit and deployment');
  try {
    await applyGuardrails(state, options.runner, expected);
    progress('starting a process worker');
    const worker = await startWorker(state, expected.workPool ?? 'hotpass-backfill-pool');
    state = { ...state, ...(worker ? { worker } : {}) };
    await writeSandboxState(state);
    if (!(await waitForWorker(state, expected.workPool ?? 'hotpass-backfill-pool', 90_000))) {
      throw new RehearseError('SANDBOX_FAILED', 'the process worker never came online', { details: tailOf(await fs.readFile(worker?.log ?? '', 'utf8').catch(() => '')), hint: `see ${worker?.log}` });
    }
  } catch (error) {
    await sandboxDown(options.stateDir);
    throw error;
  }
  return { state, alreadyRunning: false };
}

export interface DownResult {
  stopped: { name: string; pid: number; outcome: string }[];
  wasRunning: boolean;
}

/** Stop exactly what up started (by the PIDs it recorded), worker first. */
export async function sandboxDown(stateDir: string, options: { purge?: boolean } = {}): Promise<DownResult> {
  const state = await readSandboxState(stateDir);
  const stopped: DownResult['stopped'] = [];
  if (state) {
    if (state.worker) stopped.push({ name: 'worker', pid: state.worker.pid, outcome: await stopGroup(state.worker.pid) });
    stopped.push({ name: 'server', pid: state.server.pid, outcome: await stopGroup(state.server.pid) });
    for (const pid of await processesWithEnv('PREFECT_HOME', state.prefectHome)) {
      stopped.push({ name: 'flow run', pid, outcome: await stopGroup(pid, 5_000) });
    }
    await removeSandboxState(stateDir);
  }
  if (options.purge) await fs.remove(stateDir);
  return { stopped, wasRunning: state !== undefined };
}

