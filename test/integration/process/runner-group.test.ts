import { describe, expect, it } from 'vitest';
import { isAlive } from '../../../src/process/daemon.js';
import { createProcessRunner } from '../../../src/process/runner.js';
import { waitFor } from '../../support/wait.js';

/**
 * An operator's shell command (`--fault-command`) that leaves a child in the background: the child holds the
 * command's output open, so without its own group the command would seem to run until the child ended (the
 * deadline passing unheeded) and the child would outlive rehearse. Each sleep below is far longer than any test
 * timeout: a command that waited for it fails by the test's timeout, never by a time judged here.
 */
describe('a command run in a group of its own', () => {
  const runner = createProcessRunner();
  const background = (script: string, timeoutMs: number) =>
    runner.run({ file: 'sh', args: ['-c', script], readOnly: false, timeoutMs, group: true });
  const gone = (pid: number) => waitFor(`pid ${pid} to end`, 60_000, async () => (isAlive(pid) ? undefined : true));

  it('ends when the command exits, its output kept, and the child it left in the background is stopped', async () => {
    const result = await background('sleep 3000 & echo "child $!"', 600_000);
    expect(result).toMatchObject({ exitCode: 0, timedOut: false });
    const child = Number(/child (\d+)/.exec(result.stdout)?.[1]);
    expect(child).toBeGreaterThan(0);
    await gone(child);
  });

  it('ends at its deadline, timed out, with everything in its group stopped', async () => {
    const result = await background('sleep 3000 & echo "child $!"; wait', 1_000);
    expect(result.timedOut).toBe(true);
    await gone(Number(/child (\d+)/.exec(result.stdout)?.[1]));
  });

  it('ends when cancelled, with everything in its group stopped', async () => {
    const controller = new AbortController();
    const lines: string[] = [];
    const running = runner.run(
      { file: 'sh', args: ['-c', 'sleep 3000 & echo "child $!"; wait'], readOnly: false, group: true },
      { signal: controller.signal, onStdoutLine: (line) => lines.push(line) },
    );
    const child = await waitFor('the child to start', 60_000, async () => {
      const pid = Number(/child (\d+)/.exec(lines.join('\n'))?.[1]);
      return pid > 0 ? pid : undefined;
    });
    controller.abort();
    expect((await running).cancelled).toBe(true);
    await gone(child);
  });
});
