import { execa } from 'execa';
import type { Command, ProcessResult, ProcessRunner, RunOptions } from './command.js';

const DEFAULT_TIMEOUT_MS = 120_000;

/** The execa-backed gateway: timeouts, no rejection, stdin closed, output kept whole. */
export function createProcessRunner(defaults: { timeoutMs?: number; baseEnv?: NodeJS.ProcessEnv } = {}): ProcessRunner {
  return {
    async run(command: Command, options: RunOptions = {}): Promise<ProcessResult> {
      const startedAt = new Date();
      const subprocess = execa(command.file, command.args, {
        cwd: command.cwd,
        env: { ...(defaults.baseEnv ?? process.env), ...command.env },
        extendEnv: false,
        reject: false,
        stdin: 'ignore',
        timeout: command.timeoutMs ?? defaults.timeoutMs ?? DEFAULT_TIMEOUT_MS,
        forceKillAfterDelay: 5_000,
        cancelSignal: options.signal,
        stripFinalNewline: false,
        maxBuffer: 256 * 1024 * 1024,
      });
      if (options.onStdoutLine) {
        const onLine = options.onStdoutLine;
        let pending = '';
        subprocess.stdout?.on('data', (chunk: Buffer) => {
          pending += chunk.toString('utf8');
          const lines = pending.split('\n');
          pending = lines.pop() ?? '';
          for (const line of lines) onLine(line);
        });
        subprocess.stdout?.on('end', () => {
          if (pending) onLine(pending);
        });
      }
      const result = await subprocess;
      const spawnError =
        result.exitCode === undefined && !result.timedOut && !result.isCanceled && result.failed
          ? (result.originalMessage ?? result.shortMessage)
          : undefined;
      return {
        command,
        exitCode: result.exitCode ?? null,
        stdout: String(result.stdout ?? ''),
        stderr: String(result.stderr ?? ''),
        startedAt: startedAt.toISOString(),
        durationMs: Math.round(result.durationMs),
        timedOut: result.timedOut,
        cancelled: result.isCanceled,
        ...(spawnError === undefined ? {} : { spawnError }),
        ...(result.signal ? { signal: result.signal } : {}),
      };
    },
  };
}
