import type { Command, ProcessResult, ProcessRunner, RunOptions } from '../../src/process/command.js';

/** What a faked process answers; the fields a real run would also set are filled in. */
export interface FakeResult {
  exitCode: number | null;
  stdout: string;
  stderr: string;
  timedOut?: boolean;
  spawnError?: string;
  /** Stopped through the abort signal (Ctrl-C). */
  cancelled?: boolean;
  signal?: string;
}

/**
 * One row of the table: `match` is a predicate over the command, or a prefix of its argv
 * (`[file, ...args]`), e.g. `['uv', 'run', 'prefect', 'deployment', 'inspect']`.
 */
export interface FakeEntry {
  match: ((command: Command) => boolean) | readonly string[];
  result: FakeResult;
}

export interface FakeRunner extends ProcessRunner {
  /** Every command run, in order. */
  readonly calls: Command[];
}

export const argvOf = (command: Command): string[] => [command.file, ...command.args];

function matches(entry: FakeEntry, command: Command): boolean {
  if (typeof entry.match === 'function') return entry.match(command);
  const argv = argvOf(command);
  return entry.match.every((part, i) => argv[i] === part);
}

/**
 * A ProcessRunner answering from a table, first match wins. A command no row matches throws,
 * so a test never passes on a call it did not expect.
 */
export function createFakeRunner(entries: readonly FakeEntry[]): FakeRunner {
  const calls: Command[] = [];
  return {
    calls,
    async run(command: Command, options?: RunOptions): Promise<ProcessResult> {
      calls.push(command);
      const entry = entries.find((e) => matches(e, command));
      if (!entry) throw new Error(`fake runner: no entry for ${argvOf(command).join(' ')}`);
      const { exitCode, stdout, stderr, timedOut = false, spawnError, cancelled = false, signal } = entry.result;
      // As the real runner hands them over: each complete line, the last one even without its newline.
      if (options?.onStderrLine && stderr)
        for (const line of stderr.replace(/\n$/, '').split('\n')) options.onStderrLine(line);
      return {
        command,
        exitCode,
        stdout,
        stderr,
        timedOut,
        cancelled,
        startedAt: '2026-11-26T01:20:00.000Z',
        durationMs: 0,
        ...(spawnError === undefined ? {} : { spawnError }),
        ...(signal === undefined ? {} : { signal }),
      };
    },
  };
}
