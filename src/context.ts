import type { CommandRecord } from './bundle/summary.js';
import type { Config } from './config/schema.js';
import type { OutageGate } from './faults/outage.js';
import type { ApiRequest, ApiResponse, PrefectApi } from './prefect/api.js';
import type { Command, ProcessResult, ProcessRunner, RunOptions } from './process/command.js';
import { formatCommand } from './process/command.js';
import type { Reporter } from './reporters/events.js';
import type { Redactor } from './secrets/redact.js';
import { type Clock, systemClock } from './util/clock.js';

export type { Clock } from './util/clock.js';

export interface RunFlags {
  dryRun: boolean;
  ci: boolean;
  failFast: boolean;
  leaveRuns: boolean;
}

/** Where Prefect is and how to call it: what every Prefect-touching step needs. */
export interface PrefectTarget {
  apiUrl: string;
  /** Variables set on every Prefect child process (no secrets: those are inherited). */
  env: Record<string, string>;
  projectDir: string;
  sandbox: boolean;
  /** Where the basic-auth string sent to the API came from (the URL's userinfo, the variable, the sandbox), if one is sent. */
  authFrom?: string;
}

/** Everything a step gets: typed, injected, no globals. */
export interface Context {
  cwd: string;
  /** The environment rehearse runs in (secrets such as PREFECT_API_KEY are read from it, never recorded). */
  env: NodeJS.ProcessEnv;
  config: Config;
  prefect: PrefectTarget;
  /** Journaled for the current step: what the step runs is what summary.json records. */
  runner: ProcessRunner;
  api: PrefectApi;
  /** The gateways themselves, wrapped anew for each step by forStep. */
  gateways: { runner: ProcessRunner; api: PrefectApi };
  reporter: Reporter;
  flags: RunFlags;
  redact: Redactor;
  signal: AbortSignal;
  /** The wall time evidence is stamped with. */
  now: () => Date;
  /** Deadlines and the waits between polls and retries. */
  clock: Clock;
  /** Every command and API call the current step made, in order. */
  journal: CommandRecord[];
  currentStep: string;
  /** A rehearsal that stops the sandbox's server on purpose: its API calls wait out the gap (faults/outage.ts). */
  outage?: OutageGate;
}

type SessionParts = Omit<Context, 'runner' | 'api' | 'journal' | 'currentStep' | 'clock'> & { clock?: Clock };

/** A context of one step's own, so steps that run side by side keep separate journals; the system clock unless told. */
export function forStep(ctx: SessionParts, step: string): Context {
  const stepCtx: Context = {
    ...ctx,
    clock: ctx.clock ?? systemClock,
    currentStep: step,
    journal: [],
    runner: ctx.gateways.runner,
    api: ctx.gateways.api,
  };
  stepCtx.runner = journaledRunner(stepCtx, ctx.gateways.runner);
  stepCtx.api = journaledApi(stepCtx, ctx.gateways.api);
  return stepCtx;
}

function recordProcess(result: ProcessResult, redact: Redactor): CommandRecord {
  const c = result.command;
  return {
    kind: 'process',
    display: redact(formatCommand(c, { withEnv: true })),
    file: c.file,
    args: c.args.map(redact),
    ...(c.input === undefined ? {} : { input: redact(c.input) }),
    ...(c.cwd ? { cwd: c.cwd } : {}),
    ...(c.env ? { env: Object.fromEntries(Object.entries(c.env).map(([k, v]) => [k, redact(v)])) } : {}),
    readOnly: c.readOnly,
    startedAt: result.startedAt,
    durationMs: result.durationMs,
    exitCode: result.exitCode,
    timedOut: result.timedOut,
    ...(result.spawnError ? { error: result.spawnError } : {}),
  };
}

function recordHttp(response: ApiResponse, redact: Redactor): CommandRecord {
  return {
    kind: 'http',
    display: `${response.request.method} ${response.url}`,
    method: response.request.method,
    url: response.url,
    readOnly: response.request.readOnly,
    startedAt: response.startedAt,
    durationMs: response.durationMs,
    status: response.status,
    ...(response.networkError ? { error: redact(response.networkError) } : {}),
  };
}

/** A dry run: read-only commands run, the others are announced and answered with a stand-in result. */
function skippedResult(command: Command): ProcessResult {
  return {
    command,
    exitCode: 0,
    stdout: '',
    stderr: '',
    startedAt: new Date().toISOString(),
    durationMs: 0,
    timedOut: false,
    cancelled: false,
  };
}

/** Wraps the runner so every call is journaled, reported and, in a dry run, only printed unless read-only. */
function journaledRunner(c: Context, inner: ProcessRunner): ProcessRunner {
  return {
    async run(command: Command, options: RunOptions = {}) {
      const dryRun = c.flags.dryRun && !command.readOnly;
      const display = c.redact(formatCommand(command, { withEnv: c.flags.dryRun }));
      c.reporter.emit({ type: 'command-start', step: c.currentStep, display, dryRun });
      if (dryRun) {
        c.journal.push({ ...recordProcess(skippedResult(command), c.redact), exitCode: null, planned: true });
        return skippedResult(command);
      }
      const result = await inner.run(command, { signal: c.signal, ...options });
      c.journal.push(recordProcess(result, c.redact));
      c.reporter.emit({
        type: 'command-end',
        step: c.currentStep,
        display,
        ok: result.exitCode === 0 && !result.timedOut,
        exitCode: result.exitCode,
        durationMs: result.durationMs,
        ...(result.cancelled && !c.signal.aborted ? { stoppedByUs: true } : {}),
      });
      return result;
    },
  };
}

function journaledApi(c: Context, inner: PrefectApi): PrefectApi {
  return {
    baseUrl: inner.baseUrl,
    async request(request: ApiRequest, options = {}) {
      if (c.flags.dryRun && !request.readOnly) {
        const display =
          `${request.method} ${inner.baseUrl}${request.path} ${request.body === undefined ? '' : c.redact(JSON.stringify(request.body))}`.trim();
        c.reporter.emit({ type: 'command-start', step: c.currentStep, display, dryRun: true });
        c.journal.push({
          kind: 'http',
          display,
          method: request.method,
          url: `${inner.baseUrl}${request.path}`,
          readOnly: false,
          startedAt: new Date().toISOString(),
          durationMs: 0,
          planned: true,
        });
        return {
          request,
          url: `${inner.baseUrl}${request.path}`,
          status: 299,
          text: 'null',
          startedAt: new Date().toISOString(),
          durationMs: 0,
        };
      }
      const response = await inner.request(request, { signal: c.signal, ...options });
      c.journal.push(recordHttp(response, c.redact));
      return response;
    },
  };
}
