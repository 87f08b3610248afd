import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isAlive } from '../../../src/process/daemon.js';
import { FLOW_STARTER_DIR } from '../../../src/sandbox/flow-starter.js';

/**
 * The flow process's side of the hand-over (sitecustomize.py) against a starter played by the test, so the
 * moment a signal arrives is the test's to choose: here, while the process waits for the starter to say
 * which child it forked. Python alone, no Prefect: a handed-over process never imports the module it names.
 */
let work: string;
let server: net.Server;
let connection: Promise<net.Socket>;

beforeEach(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'rehearse-handover-'));
  server = net.createServer();
  connection = new Promise((resolve) => server.once('connection', resolve));
  await new Promise<void>((resolve) => server.listen(path.join(work, 'starter.sock'), resolve));
});

afterEach(async () => {
  server.close();
  await rm(work, { recursive: true, force: true });
});

/** A flow process as a worker starts one, handing itself over to the socket the test serves. */
const flowProcess = () =>
  execa('python3', ['-m', 'prefect.engine'], {
    env: {
      PREFECT__FLOW_RUN_ID: 'handover-test',
      REHEARSE_FLOW_STARTER: path.join(work, 'starter.sock'),
      PYTHONPATH: FLOW_STARTER_DIR,
    },
    reject: false,
    timeout: 120_000,
  });

describe('the hand-over to the warm flow starter', () => {
  it('holds a SIGTERM that comes before the child is known and forwards it once it is', async () => {
    const shim = flowProcess();
    const conn = await connection;
    // Its request has arrived: it now waits for the `pid` line. A child stands in for the forked engine.
    await new Promise<void>((resolve) => conn.once('data', () => resolve()));
    const child = spawn('sleep', ['300'], { stdio: 'ignore' });
    const childEnded = new Promise<NodeJS.Signals | null>((resolve) =>
      child.once('exit', (_code, sig) => resolve(sig)),
    );
    shim.kill('SIGTERM');
    // Given time to act on it: a process that died of it now would not be there to take the pid line.
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(isAlive(shim.pid as number)).toBe(true);
    conn.write(`pid ${child.pid}\n`);
    // The held SIGTERM goes to the child as soon as the process knows it.
    expect(await childEnded).toBe('SIGTERM');
    conn.end('exit -15\n');
    const result = await shim;
    // And the process ends as its child did, by SIGTERM, as a plain start would have.
    expect(result.signal).toBe('SIGTERM');
  });

  it('still starts as usual, the held signal delivered, when the starter gives no child', async () => {
    const shim = flowProcess();
    const conn = await connection;
    await new Promise<void>((resolve) => conn.once('data', () => resolve()));
    shim.kill('SIGTERM');
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(isAlive(shim.pid as number)).toBe(true);
    // No `pid` line: the process goes on as a plain start, and the SIGTERM it was sent ends it.
    conn.end('refused\n');
    expect((await shim).signal).toBe('SIGTERM');
  });
});
