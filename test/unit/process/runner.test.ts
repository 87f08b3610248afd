import { describe, expect, it } from 'vitest';
import { createProcessRunner } from '../../../src/process/runner.js';

/** A tiny real program: prints its own argument list, then what it read on stdin. */
const ECHO = "process.stdout.write(JSON.stringify(process.argv.slice(1)) + '\\n'); process.stdin.pipe(process.stdout);";

describe('createProcessRunner', () => {
  const runner = createProcessRunner({ timeoutMs: 30_000 });

  it("feeds a command's input to the child's stdin, outside its argument list", async () => {
    const input = '{"notify_token":"planted-stdin-token"}';
    const result = await runner.run({ file: process.execPath, args: ['-e', ECHO], input, readOnly: true });
    expect(result.exitCode).toBe(0);
    const [argv, read] = result.stdout.split('\n', 2);
    expect(read).toBe(input);
    expect(argv).not.toContain('planted-stdin-token');
  });

  it('closes stdin when the command has no input', async () => {
    const result = await runner.run({ file: process.execPath, args: ['-e', ECHO], readOnly: true });
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toBe('[]\n');
  });
});
