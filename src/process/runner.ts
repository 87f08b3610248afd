import { StringDecoder } from 'node:string_decoder';
import { execa } from 'execa';
import type { Command, ProcessResult, ProcessRunner, RunOptions } from './command.js';
import { signalGroup } from './daemon.js';
import { guardChild } from './watchdog.js';

const DEFAULT_TIMEOUT_MS = 120_000;

/**
 * Whole lines out of a byte stream. A chunk may end inside a multi-byte character (`└──` is three
 * bytes each): the decoder keeps the partial bytes for the next chunk instead of mangling them.
 */
export function lineSplitter(onLine: (line: string) => void): { write(chunk: Buffer): void; end(): void } {
  const decoder = new StringDecoder('utf8');
  let pending = '';
  return {
    write(chunk) {
      pending += decoder.write(chunk);
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) onLine(line);
    },
    end() {
      pending += decoder.end();
      if (pending) onLine(pending);
    },
  };
}

function followLines(stream: NodeJS.ReadableStream | null, onLine: (line: string) => void): void {
  const splitter = lineSplitter(onLine);
  stream?.on('data', (chunk: Buffer) => splitter.write(chunk));
  stream?.on('end', () => splitter.end());
}

/**
 * A command in a group of its own: SIGTERM to the group at its deadline or on cancel (execa then forces the
 * command itself), and SIGKILL to what is left of the group once the command has exited, so a background
 * child can neither hold the output open (the command would never seem to end) nor outlive it.
 */
function stopGroupWithCommand(
  subprocess: { once(event: 'exit', listener: () => void): unknown },
  pid: number,
  timeoutMs: number,
  signal: AbortSignal | undefined,
): () => void {
  const term = () => signalGroup(pid, 'SIGTERM');
  const deadline = setTimeout(term, timeoutMs);
  signal?.addEventListener('abort', term, { once: true });
  subprocess.once('exit', () => signalGroup(pid, 'SIGKILL'));
  return () => {
    clearTimeout(deadline);
    signal?.removeEventListener('abort', term);
  };
}

/** The execa-backed gateway: timeouts, no rejection, stdin closed (or fed the command's input), output kept whole, no child left behind. */
export function createProcessRunner(defaults: { timeoutMs?: number; baseEnv?: NodeJS.ProcessEnv } = {}): ProcessRunner {
  return {
    async run(command: Command, options: RunOptions = {}): Promise<ProcessResult> {
      const startedAt = new Date();
      const timeoutMs = command.timeoutMs ?? defaults.timeoutMs ?? DEFAULT_TIMEOUT_MS;
      const subprocess = execa(command.file, command.args, {
        cwd: command.cwd,
        env: { ...(defaults.baseEnv ?? process.env), ...command.env },
        extendEnv: false,
        reject: false,
        ...(command.input === undefined ? { stdin: 'ignore' as const } : { input: command.input }),
        timeout: timeoutMs,
        ...(command.group ? { detached: true } : {}),
        forceKillAfterDelay: 5_000,
        cancelSignal: options.signal,
        stripFinalNewline: false,
        maxBuffer: 256 * 1024 * 1024,
      });
      if (options.onStdoutLine) followLines(subprocess.stdout, options.onStdoutLine);
      if (options.onStderrLine) followLines(subprocess.stderr, options.onStderrLine);
      // No child outlives rehearse, even one killed with SIGKILL (see watchdog.ts); a group is stopped whole.
      const pid = subprocess.pid;
      const grouped = command.group && pid !== undefined;
      const ended = guardChild(grouped ? -pid : pid);
      const groupDone = grouped ? stopGroupWithCommand(subprocess, pid, timeoutMs, options.signal) : undefined;
      const result = await subprocess.finally(() => {
        ended();
        groupDone?.();
      });
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
