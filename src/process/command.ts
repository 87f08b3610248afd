/**
 * An external command as a value: built by pure functions, printed by --dry-run,
 * recorded in summary.json and executed, all from the same object.
 */
export interface Command {
  file: string;
  args: string[];
  cwd?: string;
  /** Only the variables this tool sets on top of the inherited environment. */
  env?: Record<string, string>;
  /**
   * Text the child reads on its stdin (else stdin is closed). What may hold a secret goes here, never in
   * `args`: any local user reads a process's arguments in /proc/<pid>/cmdline for as long as it runs.
   */
  input?: string;
  /** Read-only commands still run under --dry-run. */
  readOnly: boolean;
  timeoutMs?: number;
  /**
   * Run in a process group of its own, stopped whole when the command ends, at its deadline or on cancel: for
   * an operator's shell command, whose background children would otherwise hold its output open past the
   * deadline and outlive rehearse.
   */
  group?: boolean;
}

export interface ProcessResult {
  command: Command;
  /** null when the process never started or was killed by a signal. */
  exitCode: number | null;
  stdout: string;
  stderr: string;
  startedAt: string;
  durationMs: number;
  timedOut: boolean;
  /** Set when the process could not be started at all (for example ENOENT). */
  spawnError?: string;
  signal?: string;
  /** Set when the run was cancelled through the abort signal. */
  cancelled: boolean;
}

export interface RunOptions {
  signal?: AbortSignal;
  /** Called with each complete line of stdout as it arrives. */
  onStdoutLine?: (line: string) => void;
  /** Called with each complete line of stderr as it arrives (where uv and pip report progress). */
  onStderrLine?: (line: string) => void;
}

/** The one gateway to child processes. Never throws for a failed command. */
export interface ProcessRunner {
  run(command: Command, options?: RunOptions): Promise<ProcessResult>;
}

const SAFE = /^[A-Za-z0-9_@%+=:,./-]+$/;

export function quoteArg(arg: string): string {
  if (arg.length > 0 && SAFE.test(arg)) return arg;
  return `'${arg.replaceAll("'", `'\\''`)}'`;
}

/**
 * The command as an operator would type it (with `withEnv`, the variables it sets first), its stdin as a
 * bash here-string. Shown and recorded through the redactor, which masks the secrets the input holds.
 */
export function formatCommand(command: Command, options: { withEnv?: boolean } = {}): string {
  const env = options.withEnv
    ? Object.entries(command.env ?? {}).map(([key, value]) => `${key}=${quoteArg(value)}`)
    : [];
  const input = command.input === undefined ? [] : [`<<< ${quoteArg(command.input)}`];
  return [...env, command.file, ...command.args]
    .map((part, i) => (i < env.length ? part : quoteArg(part)))
    .concat(input)
    .join(' ');
}

export function succeeded(result: ProcessResult): boolean {
  return result.exitCode === 0 && !result.timedOut && result.spawnError === undefined && !result.cancelled;
}

/** Why a command did not succeed, as a few words for a message: never empty, never "undefined". */
export function whyFailed(result: ProcessResult): string {
  if (result.cancelled) return 'was interrupted';
  if (result.spawnError !== undefined) return `could not start (${result.spawnError})`;
  if (result.timedOut) return `did not finish within ${Math.round((result.command.timeoutMs ?? 0) / 1000)} s`;
  const last = `${result.stdout}\n${result.stderr}`.trim().split('\n').at(-1)?.trim();
  const how = result.exitCode === null ? `was killed by ${result.signal ?? 'a signal'}` : `exited ${result.exitCode}`;
  return last ? `${how}: ${last}` : `${how} without a word`;
}
