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

  it('hands each line of stderr to onStderrLine as it comes, and still keeps the whole of it', async () => {
    const lines: string[] = [];
    const script =
      "process.stderr.write('Resolved 3 packages\\nInstal'); setTimeout(() => process.stderr.write('led 3\\n'), 20);";
    const result = await runner.run(
      { file: process.execPath, args: ['-e', script], readOnly: true },
      { onStderrLine: (line) => lines.push(line) },
    );
    expect(lines).toEqual(['Resolved 3 packages', 'Installed 3']);
    expect(result.stderr).toBe('Resolved 3 packages\nInstalled 3\n');
  });
});
