/** Exit codes, as PRODUCT.md fixes them. */
export const ExitCode = {
  ok: 0,
  guardrailFailed: 1,
  usage: 2,
  couldNotRun: 3,
  inconclusive: 4,
} as const;
export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

export type ErrorCode =
  | 'CONFIG_INVALID'
  | 'USAGE'
  | 'BUNDLE_INVALID'
  | 'BUNDLE_SEALED'
  | 'BUNDLE_LOCKED'
  | 'DEPLOYMENT_CLAIMED'
  | 'BUNDLE_ABANDONED'
  | 'TOOL_MISSING'
  | 'API_UNREACHABLE'
  | 'API_ERROR'
  | 'COMMAND_FAILED'
  | 'TIMEOUT'
  | 'NOT_FOUND'
  | 'PORT_BUSY'
  | 'SANDBOX_FAILED'
  | 'EVIDENCE_ROOT_UNWRITABLE'
  | 'UNEXPECTED_OUTPUT'
  | 'INTERRUPTED';

const exitCodeOf: Record<ErrorCode, ExitCodeValue> = {
  CONFIG_INVALID: ExitCode.usage,
  USAGE: ExitCode.usage,
  BUNDLE_INVALID: ExitCode.usage,
  BUNDLE_SEALED: ExitCode.usage,
  // Busy, not wrong: the same command works once the other one has finished.
  BUNDLE_LOCKED: ExitCode.couldNotRun,
  // Busy in the same way: another rehearsal of the deployment is under way (prefect/claim.ts).
  DEPLOYMENT_CLAIMED: ExitCode.couldNotRun,
  BUNDLE_ABANDONED: ExitCode.usage,
  TOOL_MISSING: ExitCode.couldNotRun,
  API_UNREACHABLE: ExitCode.couldNotRun,
  API_ERROR: ExitCode.couldNotRun,
  COMMAND_FAILED: ExitCode.couldNotRun,
  TIMEOUT: ExitCode.couldNotRun,
  NOT_FOUND: ExitCode.couldNotRun,
  PORT_BUSY: ExitCode.couldNotRun,
  SANDBOX_FAILED: ExitCode.couldNotRun,
  EVIDENCE_ROOT_UNWRITABLE: ExitCode.couldNotRun,
  UNEXPECTED_OUTPUT: ExitCode.couldNotRun,
  INTERRUPTED: ExitCode.couldNotRun,
};

/** The exit code an error code stands for, read back from summary.json (a code it does not know could not run). */
export const exitCodeOfError = (code: string): ExitCodeValue =>
  (exitCodeOf as Record<string, ExitCodeValue | undefined>)[code] ?? ExitCode.couldNotRun;

/**
 * An error the operator can act on: what went wrong, and what to do.
 * The top level prints `message` and `hint` and exits with `exitCode`; never a stack.
 */
export class RehearseError extends Error {
  readonly code: ErrorCode;
  readonly hint: string | undefined;
  readonly details: string[];
  readonly exitCode: ExitCodeValue;
  /** What a step had found before it failed (created run ids, say), kept in summary.json. */
  readonly data: Record<string, unknown> | undefined;

  constructor(
    code: ErrorCode,
    message: string,
    options: { hint?: string; details?: string[]; cause?: unknown; data?: Record<string, unknown> } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'RehearseError';
    this.code = code;
    this.hint = options.hint;
    this.details = options.details ?? [];
    this.exitCode = exitCodeOf[code];
    this.data = options.data;
  }
}

export function isRehearseError(error: unknown): error is RehearseError {
  return error instanceof RehearseError;
}

/** The last `lines` non-empty lines of a process's output, for error messages. */
export function tailOf(text: string, lines = 8): string[] {
  return text
    .split('\n')
    .map((line) => line.trimEnd())
    .filter((line) => line.length > 0)
    .slice(-lines);
}

/** What went wrong, as one line, whatever was thrown: an Error's message, a string, or the value itself. */
export function messageOf(thrown: unknown): string {
  if (thrown instanceof Error) return thrown.message || thrown.name;
  if (typeof thrown === 'string') return thrown;
  if (thrown === undefined || thrown === null) return 'no reason given';
  try {
    return JSON.stringify(thrown) ?? String(thrown);
  } catch {
    return String(thrown);
  }
}
