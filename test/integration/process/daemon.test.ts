import { execa } from 'execa';
import { afterEach, describe, expect, it } from 'vitest';
import { isAlive, stopGroup } from '../../../src/process/daemon.js';
import { readProcStat } from '../../../src/process/proc.js';
import { waitFor } from '../../support/wait.js';

/**
 * A sandbox daemon outlives the command that started it, so whatever adopts orphans reaps it when it ends; a
 * container's first process may do that seconds late, or never. Here a parent that never reaps stands for it:
 * a Python that forks a child leading a group of its own, then sleeps. The child ended is a zombie, which
 * must count as ended: waiting for it to go would wait out the whole grace period, then report it killed.
 */
describe('a daemon whose parent does not reap it', () => {
  const parents: { kill(): unknown }[] = [];
  afterEach(() => {
    for (const parent of parents.splice(0)) parent.kill();
  });

  const startUnreaped = async (): Promise<number> => {
    const script = [
      'import os, sys, time',
      'pid = os.fork()',
      'if pid == 0:',
      '    os.setpgid(0, 0)',
      "    os.execvp('sleep', ['sleep', '3000'])",
      'print(pid, flush=True)',
      'time.sleep(3000)',
    ].join('\n');
    const parent = execa('python3', ['-c', script], { buffer: false, reject: false });
    parents.push(parent);
    const pid = await new Promise<number>((resolve) =>
      parent.stdout?.once('data', (data) => resolve(Number(String(data).trim()))),
    );
    await waitFor(
      `pid ${pid} to lead its group`,
      60_000,
      async () => ((await readProcStat(pid))?.pgrp === pid ? true : undefined),
      50,
    );
    return pid;
  };

  it('counts as stopped once its group has ended, though its parent has not reaped it', async () => {
    const pid = await startUnreaped();
    expect(isAlive(pid)).toBe(true);
    // A grace far beyond the moment sleep takes to end on SIGTERM: 'killed' means the zombie was waited for.
    expect(await stopGroup(pid, 30_000)).toBe('stopped');
    // The premise: the process is there, a zombie, yet it does not live.
    expect((await readProcStat(pid))?.state).toBe('Z');
    expect(isAlive(pid)).toBe(false);
    expect(await stopGroup(pid)).toBe('not-running');
  });
});
