import { ExitCode, isRehearseError, type RehearseError } from '../errors.js';
import type { CommandResult, Reporter } from '../reporters/events.js';
import type { SecretKeeper } from '../secrets/redact.js';
import type { SessionOptions } from '../session.js';
import { makeRedactor, makeReporter, type ReporterFlags } from './reporter.js';
import { createSignalGuard } from './signals.js';
import { detectCi } from './terminal.js';

export interface MainIo {
  env: NodeJS.ProcessEnv;
  cwd: string;
}

export type CommonFlags = ReporterFlags & { dryRun?: boolean };

export interface RehearsalFlags extends CommonFlags {
  config?: string;
  sandbox?: boolean;
  bundle?: string;
  newBundle?: boolean;
  evidenceRoot?: string;
  projectDir?: string;
  deployment?: string;
  workPool?: string;
  manifest?: string;
  failFast?: boolean;
  leaveRuns?: boolean;
  signingKey?: string;
}

/** What every command's wiring shares: the process's io, the abort signal, and the one way to run a command. */
export interface CliRuntime {
  io: MainIo;
  signal: AbortSignal;
  execute(flags: CommonFlags, name: string, action: (reporter: Reporter) => Promise<CommandResult>): Promise<void>;
  session(flags: RehearsalFlags, reporter: Reporter, extra?: Record<string, unknown>): SessionOptions;
  exitCode(): number;
}

export function createRuntime(io: MainIo): CliRuntime {
  let exitCode: number = ExitCode.ok;
  let secrets: SecretKeeper | undefined;
  const guard = createSignalGuard();
  return {
    io,
    signal: guard.signal,
    exitCode: () => exitCode,
    async execute(flags, name, action) {
      secrets = await makeRedactor(flags, io.env);
      const reporter = await makeReporter(flags, io.env, secrets, io.cwd);
      const stopListening = guard.listen();
      let result: CommandResult;
      try {
        result = await action(reporter);
      } catch (error) {
        if (!isRehearseError(error)) throw error;
        result = resultOfError(name, error);
      } finally {
        stopListening();
      }
      reporter.emit({ type: 'done', result });
      await reporter.close();
      exitCode = result.exitCode;
    },
    session(flags, reporter, extra = {}) {
      return {
        cwd: io.cwd,
        env: io.env,
        ...(flags.config ? { configFile: flags.config } : {}),
        overrides: { ...overridesFrom(flags), ...extra },
        flags: {
          dryRun: Boolean(flags.dryRun),
          ci: detectCi(flags, io.env),
          failFast: Boolean(flags.failFast),
          leaveRuns: Boolean(flags.leaveRuns),
        },
        sandbox: Boolean(flags.sandbox),
        ...(flags.bundle ? { bundle: flags.bundle } : {}),
        newBundle: Boolean(flags.newBundle),
        reporter,
        signal: guard.signal,
        ...(secrets ? { redactor: secrets } : {}),
        ...(flags.signingKey ? { signingKey: flags.signingKey } : {}),
      };
    },
  };
}

function resultOfError(command: string, error: RehearseError): CommandResult {
  return {
    command,
    exitCode: error.exitCode,
    verdict: 'error',
    error: {
      code: error.code,
      message: error.message,
      details: error.details,
      ...(error.hint ? { hint: error.hint } : {}),
    },
  };
}

function overridesFrom(flags: RehearsalFlags): Record<string, unknown> {
  return {
    evidenceRoot: flags.evidenceRoot,
    projectDir: flags.projectDir,
    deployment: flags.deployment,
    workPool: flags.workPool,
    manifest: flags.manifest,
  };
}
