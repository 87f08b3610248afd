import { once } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

const repo = path.resolve(import.meta.dirname, '..', '..', '..');

/**
 * Runs a command on a pty of its own (it is the session leader, the pty its controlling terminal) with
 * stdout sent to a file; drains the terminal until a line arrives on stdin, then closes the pty's master,
 * as closing a terminal window does, and prints how the command ended: "exit N" or "signal N".
 */
const ON_A_PTY = `
import os, pty, select, sys
pid, master = pty.fork()
if pid == 0:
    out = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(out, 1)
    os.execvp(sys.argv[2], sys.argv[2:])
while True:
    ready, _, _ = select.select([master, sys.stdin], [], [])
    if sys.stdin in ready:
        break
    try:
        if not os.read(master, 65536):
            break
    except OSError:
        break
os.close(master)
_, status = os.waitpid(pid, 0)
print(f"exit {os.WEXITSTATUS(status)}" if os.WIFEXITED(status) else f"signal {os.WTERMSIG(status)}", flush=True)
`;

let work: string;
let api: net.Server;
const held: net.Socket[] = [];

beforeEach(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'rehearse-hangup-'));
  // An API that accepts and never answers: rehearse waits on it as long as the test needs.
  api = net.createServer((socket) => held.push(socket));
  api.listen(0, '127.0.0.1');
  await once(api, 'listening');
});

afterEach(async () => {
  for (const socket of held.splice(0)) socket.destroy();
  api.close();
  await rm(work, { recursive: true, force: true });
});

describe('a closed terminal (built CLI on a real pty)', () => {
  it('ends a waiting command with exit 3 (interrupted), not an abort (status 134)', async () => {
    const { port } = api.address() as net.AddressInfo;
    const out = path.join(work, 'summary.json');
    const child = execa(
      'python3',
      ['-c', ON_A_PTY, out, 'node', path.join(repo, 'bin/rehearse.js'), 'doctor', '--json'],
      {
        cwd: work,
        env: { ...process.env, CI: '', PREFECT_API_URL: `http://127.0.0.1:${port}/api`, PREFECT_API_AUTH_STRING: '' },
        stdin: 'pipe',
        reject: false,
      },
    );
    // Rehearse is waiting on the API once it has connected: the moment to close its terminal.
    await once(api, 'connection');
    child.stdin?.write('close\n');
    const result = await child;
    expect(result.stdout.trim(), result.stderr).toBe('exit 3');
    // The exit is the stop's, not the API's: doctor says its checks were interrupted.
    const summary = JSON.parse(await readFile(out, 'utf8'));
    expect(summary.exitCode).toBe(3);
    expect(summary.error, JSON.stringify(summary)).toMatchObject({ code: 'INTERRUPTED' });
  });
});
