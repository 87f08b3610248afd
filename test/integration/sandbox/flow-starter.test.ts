import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { closeSync, openSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import fs from 'fs-extra';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isAlive } from '../../../src/process/daemon.js';
import { FLOW_STARTER_DIR } from '../../../src/sandbox/flow-starter.js';
import { waitFor } from '../../support/wait.js';

/**
 * The warm flow starter with the real fixture project's Python and Prefect, and no server: a flow
 * process as a process worker starts one (`python -m prefect.engine`, and from Prefect 3.9 first
 * `python -m prefect.runner._workspace_supervisor CONFIG`) hands itself over, and what the worker sees
 * of that process (output, exit status, signals, being killed) is what a plain start gives.
 */
const repo = path.resolve(import.meta.dirname, '..', '..', '..');
const project = path.join(repo, 'fixtures/hotpass');
const python = path.join(project, '.venv/bin/python');

let work: string;
let socket: string;
let starter: ChildProcess;
let api: net.Server;
const held: net.Socket[] = [];
let apiUrl: string;

/** An API that accepts connections and never answers: an engine asking it waits, so it stays alive. */
async function silentApi(): Promise<net.Server> {
  const server = net.createServer((connection) => {
    held.push(connection);
    connection.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
}

const baseEnv = (): Record<string, string> => ({
  PREFECT_HOME: path.join(work, 'prefect-home'),
  PREFECT_API_URL: apiUrl,
  DO_NOT_TRACK: '1',
});

const ENGINE = ['-m', 'prefect.engine'];
const SUPERVISOR = ['-m', 'prefect.runner._workspace_supervisor'];

/** The workspace supervisor's config, as a worker writes it, for a flow run the silent API never describes. */
async function supervisorConfig(flowRunId: string): Promise<string> {
  const file = path.join(work, `supervisor-${flowRunId}.json`);
  await fs.writeJson(file, {
    flow_run_id: flowRunId,
    workspace_root: path.join(work, 'workspace'),
    manifest_path: path.join(work, `workspace-${flowRunId}.json`),
    command: null,
  });
  return file;
}

/** A flow process as a worker starts one, handing over to the starter unless `plain`. */
function flowProcess(
  flowRunId: string,
  options: { plain?: boolean; env?: Record<string, string>; args?: string[] } = {},
) {
  return execa(python, options.args ?? ENGINE, {
    cwd: project,
    env: {
      ...baseEnv(),
      PREFECT__FLOW_RUN_ID: flowRunId,
      ...(options.plain ? {} : { REHEARSE_FLOW_STARTER: socket, PYTHONPATH: FLOW_STARTER_DIR }),
      ...options.env,
    },
    extendEnv: true,
    reject: false,
    timeout: 120_000,
    all: true,
  });
}

/** The child the starter forked for a flow run, from the line it logs. */
const childOf = (flowRunId: string): Promise<number> =>
  waitFor(
    `the starter to fork ${flowRunId}`,
    90_000,
    async () => {
      const log = await readFile(path.join(work, 'starter.log'), 'utf8').catch(() => '');
      const found = new RegExp(`flow run ${flowRunId}: child (\\d+)`).exec(log);
      return found ? Number(found[1]) : undefined;
    },
    100,
  );

beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'rehearse-flow-starter-'));
  socket = path.join(work, 'starter.sock');
  api = await silentApi();
  apiUrl = `http://127.0.0.1:${(api.address() as net.AddressInfo).port}/api`;
  const log = openSync(path.join(work, 'starter.log'), 'a');
  starter = spawn(python, [path.join(FLOW_STARTER_DIR, 'starter.py'), socket], {
    cwd: project,
    env: { ...process.env, ...baseEnv() },
    stdio: ['ignore', log, log],
  });
  closeSync(log);
  await waitFor('the starter socket', 180_000, async () => ((await fs.pathExists(socket)) ? true : undefined), 100);
});

afterAll(async () => {
  starter?.kill('SIGTERM');
  for (const connection of held) connection.destroy();
  api?.close();
  await rm(work, { recursive: true, force: true });
});

describe('the warm flow starter (real Prefect, no server)', () => {
  it('gives the worker the same output and exit status as a plain start', async () => {
    const [handed, plain] = [await flowProcess('not-a-uuid'), await flowProcess('not-a-uuid', { plain: true })];
    expect(plain.exitCode).not.toBe(0);
    expect(handed.exitCode).toBe(plain.exitCode);
    expect(plain.all).toContain('Invalid flow run id');
    expect(handed.all).toContain('Invalid flow run id');
    // It really forked: the starter logged a child for it.
    expect(await readFile(path.join(work, 'starter.log'), 'utf8')).toContain('flow run not-a-uuid: child ');
  });

  it('forwards SIGTERM to the forked engine: both end', async () => {
    const id = randomUUID();
    const worker = flowProcess(id);
    const child = await childOf(id);
    expect(isAlive(child)).toBe(true);
    worker.kill('SIGTERM');
    await worker;
    await waitFor('the forked engine to end', 60_000, async () => (isAlive(child) ? undefined : true), 100);
    // It ended on the signal it was forwarded, not killed by the starter for a vanished worker process.
    expect(await readFile(path.join(work, 'starter.log'), 'utf8')).not.toContain(`child ${child}: the process`);
  });

  it('kills the forked engine when the worker’s process is killed outright (SIGKILL)', async () => {
    const id = randomUUID();
    const worker = flowProcess(id);
    const child = await childOf(id);
    expect(isAlive(child)).toBe(true);
    worker.kill('SIGKILL');
    await waitFor('the forked engine to be killed', 30_000, async () => (isAlive(child) ? undefined : true), 100);
    expect(await readFile(path.join(work, 'starter.log'), 'utf8')).toContain(`child ${child}: the process`);
    await worker;
  });

  it('hands over the workspace supervisor too: same output and exit status as a plain start', async () => {
    const missing = path.join(work, 'no-such-config.json');
    const args = [...SUPERVISOR, missing];
    const id = randomUUID();
    const [handed, plain] = [await flowProcess(id, { args }), await flowProcess(id, { args, plain: true })];
    expect(plain.exitCode).toBe(1);
    expect(handed.exitCode).toBe(plain.exitCode);
    expect(plain.all).toContain('no-such-config.json');
    expect(handed.all).toContain('no-such-config.json');
    expect(await readFile(path.join(work, 'starter.log'), 'utf8')).toContain(
      `flow run ${id}: child ${await childOf(id)} (prefect.runner._workspace_supervisor)`,
    );
  });

  it('kills a forked supervisor and what it started when the worker’s process is killed (SIGKILL)', async () => {
    const id = randomUUID();
    // The supervisor asks the silent API for the run, so it stays alive until killed.
    const worker = flowProcess(id, { args: [...SUPERVISOR, await supervisorConfig(id)] });
    const child = await childOf(id);
    // It leads a process group of its own, so what it starts (a pull step's command) ends with it: its first
    // call, which may come a moment after the starter has logged the fork on a loaded machine.
    const pgid = async () => Number((await execa('ps', ['-o', 'pgid=', '-p', String(child)])).stdout.trim());
    await waitFor('the forked child to lead its own group', 30_000, async () =>
      (await pgid()) === child ? true : undefined,
    );
    worker.kill('SIGKILL');
    await waitFor('the forked supervisor to be killed', 30_000, async () => (isAlive(child) ? undefined : true), 100);
    expect(await readFile(path.join(work, 'starter.log'), 'utf8')).toContain(`child ${child}: the process`);
    await worker;
  });

  it('ends the worker’s process killed by SIGKILL when the forked engine is killed outright, never running it again', async () => {
    const id = randomUUID();
    const worker = flowProcess(id);
    const child = await childOf(id);
    process.kill(child, 'SIGKILL');
    // As a plain engine killed outright: the worker sees its process killed by the signal and reports the run
    // Crashed. Before, the hand-over failed on SIGKILL's handler and the process ran the engine itself.
    const ended = await Promise.race([
      worker,
      new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 30_000)),
    ]);
    if (!ended) worker.kill('SIGKILL');
    expect(ended?.signal, ended?.all ?? 'the worker’s process ran on after its engine was killed').toBe('SIGKILL');
    expect(ended?.all).not.toContain('Error in sitecustomize');
  });

  it('kills a child that does not lead its group yet (killed right after the fork), not only a group', async () => {
    // A process in the caller's group, as a forked child is until its setsid: no group bears its pid.
    const script = [
      'import subprocess, sys',
      `sys.path.insert(0, ${JSON.stringify(FLOW_STARTER_DIR)})`,
      'import starter',
      "child = subprocess.Popen(['sleep', '3000'])",
      'starter.kill_group(child.pid, 9)',
      'try:',
      '    print(f"ended {child.wait(timeout=60)}")',
      'except subprocess.TimeoutExpired:',
      '    child.kill()',
      '    print("still running")',
    ].join('\n');
    const result = await execa(python, ['-c', script], { reject: false });
    expect(result.stdout, result.stderr).toBe('ended -9');
  });

  it('starts plainly when no starter answers', async () => {
    const result = await flowProcess('not-a-uuid', { env: { REHEARSE_FLOW_STARTER: path.join(work, 'nobody.sock') } });
    expect(result.all).toContain('Invalid flow run id');
  });
});
