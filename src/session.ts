import os from 'node:os';
import path from 'node:path';
import fs from 'fs-extra';
import { attestBundle, describeAttestation } from './attest/attestation.js';
import type { SigningKey } from './attest/keys.js';
import { resolveSigningKey } from './attest/signing.js';
import { claimBundle, reportAbandoned, sweepAbandoned } from './bundle/abandon.js';
import { type Bundle, createBundle, findOpenBundle, openBundle, readSummary } from './bundle/bundle.js';
import { LOCK_FILE } from './bundle/lock.js';
import type { Summary } from './bundle/summary.js';
import { newSummary } from './bundle/summary-io.js';
import { refuseSandboxFaults } from './config/faults.js';
import { loadConfig } from './config/load.js';
import type { Config } from './config/schema.js';
import { type Context, forStep, type PrefectTarget, type RunFlags } from './context.js';
import { RehearseError } from './errors.js';
import { outageGateFor } from './faults/outage.js';
import { knownWorkerPids } from './faults/processes.js';
import { DRY_RUN_VERDICT } from './guardrails/rollup.js';
import { createPrefectApi, type PrefectApi, splitApiUrl } from './prefect/api.js';
import { prefectEnv } from './prefect/commands.js';
import { checkHealth, readServerVersion } from './prefect/queries.js';
import type { ProcessRunner } from './process/command.js';
import { createProcessRunner } from './process/runner.js';
import type { CommandResult, Reporter } from './reporters/events.js';
import { sandboxApi, sandboxUp } from './sandbox/lifecycle.js';
import { defaultStateDir, readSandboxState } from './sandbox/state.js';
import type { Redactor, SecretKeeper } from './secrets/redact.js';
import { learningClient, noteMaskedAfterEachStep, prepareSecrets, withSandboxAuth } from './session-secrets.js';
import { warnOtherRehearsals } from './steps/cleanup/cleanup.js';
import { runSteps, type Stage } from './steps/runner.js';

/** Options every rehearsal command shares, already parsed by the CLI layer. */
export interface SessionOptions {
  cwd: string;
  env: NodeJS.ProcessEnv;
  configFile?: string;
  overrides: Record<string, unknown>;
  flags: RunFlags;
  sandbox: boolean;
  bundle?: string;
  newBundle: boolean;
  reporter: Reporter;
  /** Injected in unit tests; the execa gateway otherwise. */
  runner?: ProcessRunner;
  signal: AbortSignal;
  /** The reporters' redactor, so the terminal, --json and JUnit mask what the steps learn. */
  redactor?: SecretKeeper;
  /** --signing-key FILE (else REHEARSE_SIGNING_KEY_FILE): signs the bundle's attestation. */
  signingKey?: string;
}

/**
 * With --sandbox the project is the checkout rehearse runs in when it holds the manifest (an
 * operator's copy, edited), else the project the sandbox hosts.
 */
async function sandboxProjectDir(config: Config, cwd: string, hosted: string): Promise<string> {
  const local = path.resolve(cwd, config.projectDir);
  return (await fs.pathExists(path.join(local, config.manifest))) ? local : hosted;
}

/** The server to rehearse against; with --sandbox, also the sandbox's auth string when it demands one. */
async function resolvePrefectTarget(
  config: Config,
  options: Pick<SessionOptions, 'cwd' | 'env' | 'sandbox' | 'reporter' | 'runner' | 'signal'>,
): Promise<PrefectTarget & { sandboxAuth?: string }> {
  if (options.sandbox) {
    // A running sandbox is used as it is, a stopped worker included: doctor must be able to see that.
    const running = await readSandboxState(defaultStateDir(options.env));
    if (running && (await checkHealth(sandboxApi(running))).ok) {
      const projectDir = await sandboxProjectDir(config, options.cwd, running.projectDir);
      const auth = running.authString ? { sandboxAuth: running.authString } : {};
      return { apiUrl: running.apiUrl, env: prefectEnv(running.apiUrl), projectDir, sandbox: true, ...auth };
    }
    const { state, alreadyRunning } = await sandboxUp({
      stateDir: defaultStateDir(options.env),
      runner: options.runner ?? createProcessRunner(),
      signal: options.signal,
      onProgress: (message) => options.reporter.emit({ type: 'info', message: `sandbox: ${message}` }),
    });
    if (!alreadyRunning) options.reporter.emit({ type: 'info', message: `sandbox: up at ${state.apiUrl}` });
    const projectDir = await sandboxProjectDir(config, options.cwd, state.projectDir);
    const auth = state.authString ? { sandboxAuth: state.authString } : {};
    return { apiUrl: state.apiUrl, env: prefectEnv(state.apiUrl), projectDir, sandbox: true, ...auth };
  }
  // Userinfo is basic auth (see session-secrets.ts), never part of a URL rehearse shows or records.
  const apiUrl = splitApiUrl(options.env.PREFECT_API_URL ?? config.prefect.apiUrl ?? '').url;
  if (!apiUrl) {
    throw new RehearseError('USAGE', 'PREFECT_API_URL is not set, so there is no Prefect server to rehearse against', {
      hint: 'export PREFECT_API_URL=<your staging API>, set "prefect.apiUrl" in rehearse.config, or add --sandbox to use the local sandbox',
    });
  }
  return { apiUrl, env: prefectEnv(apiUrl), projectDir: path.resolve(options.cwd, config.projectDir), sandbox: false };
}

async function chooseBundle(
  command: string,
  config: Config,
  options: SessionOptions,
  redact: Redactor,
  now: Date,
  startsRehearsal: boolean,
): Promise<{ bundle: Bundle; fresh: boolean; copyOf?: string }> {
  // Filing is the one thing a sealed (finished) rehearsal still accepts.
  const allowSealed = command === 'upload';
  const root = path.resolve(options.cwd, config.evidenceRoot);
  // The dry-run rule for the bundle: every write lands in one thrown away at the end, so no step branches
  // for it. A command that would work in an existing bundle plans on a copy of it (same name, same files).
  if (options.flags.dryRun) {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'rehearse-dry-run-'));
    const existing = options.bundle
      ? (await openBundle(options.bundle, redact, { allowSealed })).dir
      : !startsRehearsal && !options.newBundle
        ? await findOpenBundle(root, { includeSealed: allowSealed })
        : undefined;
    if (!existing) return { bundle: await createBundle(dir, now, redact), fresh: true };
    const copy = path.join(dir, path.basename(existing));
    await fs.copy(existing, copy, { filter: (file) => path.basename(file) !== LOCK_FILE });
    return { bundle: await openBundle(copy, redact, { allowSealed }), fresh: false, copyOf: existing };
  }
  if (options.bundle) return { bundle: await openBundle(options.bundle, redact, { allowSealed }), fresh: false };
  // Bundles left `in-progress` by a command that died are marked abandoned before any is chosen.
  reportAbandoned(options.reporter, await sweepAbandoned(root, command, now), options.cwd);
  if (!startsRehearsal && !options.newBundle) {
    const open = await findOpenBundle(root, { includeSealed: allowSealed });
    if (open) return { bundle: await openBundle(open, redact, { allowSealed }), fresh: false };
  }
  return { bundle: await createBundle(root, now, redact), fresh: true };
}

/**
 * For commands that never talk to Prefect (upload): no server is resolved or required, and an API call
 * by mistake fails loudly instead of reaching whatever PREFECT_API_URL happens to name.
 */
function offlineTarget(config: Config, cwd: string): { prefect: PrefectTarget; api: PrefectApi } {
  const api: PrefectApi = {
    baseUrl: '',
    request: (request) =>
      Promise.reject(
        new RehearseError('USAGE', `${request.method} ${request.path}: this command has no Prefect server`),
      ),
  };
  return { prefect: { apiUrl: '', env: {}, projectDir: path.resolve(cwd, config.projectDir), sandbox: false }, api };
}

/** Config, redactor, Prefect target and a Context for one command, without a bundle. */
export async function openSession(
  command: string,
  options: SessionOptions,
  needs: { prefect?: boolean } = {},
): Promise<{ ctx: Context; config: Config; redact: Redactor }> {
  const { config } = await loadConfig({
    cwd: options.cwd,
    ...(options.configFile ? { file: options.configFile } : {}),
    overrides: options.overrides,
  });
  const secrets = prepareSecrets(options.env, config, options.redactor);
  const offline = needs.prefect === false ? offlineTarget(config, options.cwd) : undefined;
  const target: PrefectTarget & { sandboxAuth?: string } =
    offline?.prefect ?? (await resolvePrefectTarget(config, options));
  const { sandboxAuth, ...resolved } = target;
  const { redact, env, authString, authFrom } = withSandboxAuth(secrets, sandboxAuth);
  const prefect: PrefectTarget = { ...resolved, ...(authFrom ? { authFrom } : {}) };
  const rawApi =
    offline?.api ??
    learningClient(
      createPrefectApi({
        apiUrl: prefect.apiUrl,
        ...(env.PREFECT_API_KEY ? { apiKey: env.PREFECT_API_KEY } : {}),
        ...(authString ? { authString } : {}),
        timeoutMs: config.timeouts.apiSeconds * 1000,
        env,
      }),
      redact,
    );
  // Only the sandbox's server is stopped by a fault: elsewhere a call nobody answers is never waited out.
  const outage = prefect.sandbox ? outageGateFor(config.faults) : undefined;
  const rawRunner =
    options.runner ?? createProcessRunner({ timeoutMs: config.timeouts.commandSeconds * 1000, baseEnv: env });
  const ctx = forStep(
    {
      cwd: options.cwd,
      env,
      config,
      prefect,
      gateways: { runner: rawRunner, api: outage ? outage.wrap(rawApi) : rawApi },
      ...(outage ? { outage } : {}),
      reporter: options.reporter,
      flags: options.flags,
      redact,
      signal: options.signal,
      now: () => new Date(),
    },
    command,
  );
  return { ctx, config, redact };
}

/** The shared path of `rehearse backfill` and every step run by hand. */
export interface RehearsalShape {
  wholeRehearsal: boolean;
  /** false for commands that never talk to Prefect: none is resolved or required. */
  prefect?: boolean;
  /** Says why an existing bundle needs no step at all (a far copy already current); the bundle is then left untouched. */
  upToDate?: (ctx: Context, bundle: Bundle, summary: Summary) => Promise<string | undefined>;
}

export async function runRehearsal(
  command: string,
  steps: Stage[],
  options: SessionOptions,
  shape: RehearsalShape,
): Promise<CommandResult> {
  const { ctx, config, redact } = await openSession(command, options, { prefect: shape.prefect ?? true });
  // A fault that needs the sandbox's processes is refused before any bundle is made.
  if (command === 'backfill' || command === 'run')
    refuseSandboxFaults(config.faults, await knownWorkerPids(ctx.prefect.sandbox, options.env));
  const { now } = ctx;
  const signingKey = await resolveSigningKey({
    ...(options.signingKey ? { flag: options.signingKey } : {}),
    env: options.env,
    cwd: options.cwd,
    evidenceDirs: [config.evidenceRoot, ...(options.bundle ? [options.bundle] : [])],
  });
  const chosen = await chooseBundle(command, config, options, redact, now(), shape.wholeRehearsal);
  const { bundle } = chosen;
  // Held while this command writes the bundle: a second command waits or is refused, a killed one is detected.
  const lock = options.flags.dryRun ? undefined : await claimBundle(bundle.dir, command, now());
  try {
    if (command === 'backfill' || command === 'run') await warnOtherRehearsals(ctx, bundle.name);
    const session = { ctx, config, redact, ...(signingKey ? { signingKey } : {}) };
    return await fillBundle(command, steps, options, shape, session, chosen);
  } finally {
    await lock?.release();
  }
}

/** The settled bundle gets its attestation, signed when the operator gave a key. */
function attestWith(
  ctx: Context,
  key: SigningKey | undefined,
): (bundle: Bundle, summary: Summary, drawReport: () => Promise<void>) => Promise<Summary> {
  return async (bundle, summary, drawReport) => {
    const attested = await attestBundle(bundle, summary, ctx.now(), key, drawReport);
    ctx.reporter.emit({ type: 'info', message: describeAttestation(attested) });
    return attested;
  };
}

type Session = { ctx: Context; config: Config; redact: Redactor; signingKey?: SigningKey };

/** The summary the steps start from: the bundle's own, or a new one; with the server's URL and version when one is asked. */
async function initialSummary(
  session: Session,
  bundle: Bundle,
  existing: Summary | undefined,
  asksPrefect: boolean,
): Promise<Summary> {
  const { ctx, config, redact } = session;
  const { prefect, now } = ctx;
  const base =
    existing ??
    newSummary(bundle, now(), {
      deployment: config.deployment,
      workPool: config.workPool,
      manifest: config.manifest,
      projectDir: prefect.projectDir,
      sandbox: prefect.sandbox,
    });
  // Without a Prefect server the bundle keeps the server it recorded.
  if (!asksPrefect) return base;
  const serverVersion = await readServerVersion(ctx.gateways.api).catch(() => undefined);
  return {
    ...base,
    prefect: { ...base.prefect, apiUrl: redact(prefect.apiUrl), ...(serverVersion ? { version: serverVersion } : {}) },
  };
}

async function fillBundle(
  command: string,
  steps: Stage[],
  options: SessionOptions,
  shape: Parameters<typeof runRehearsal>[3],
  session: Session,
  chosen: { bundle: Bundle; fresh: boolean; copyOf?: string },
): Promise<CommandResult> {
  const { ctx, redact } = session;
  const { bundle, fresh } = chosen;
  const existing = fresh ? undefined : await readSummary(bundle.dir);
  const current = existing && !options.flags.dryRun ? await shape.upToDate?.(ctx, bundle, existing) : undefined;
  if (existing && current !== undefined) {
    const rel = path.relative(options.cwd, bundle.dir) || bundle.dir;
    return { command, exitCode: 0, verdict: existing.verdict, bundle: rel, summary: existing, lines: [current] };
  }
  const initial = await initialSummary(session, bundle, existing, shape.prefect !== false);
  options.reporter.emit({
    type: 'info',
    message: options.flags.dryRun
      ? `dry run, plan only: nothing is written${chosen.copyOf ? ` (planned on a copy of ${path.relative(options.cwd, chosen.copyOf) || chosen.copyOf})` : ''}`
      : `bundle ${bundle.dir}`,
  });
  const outcome = await runSteps(ctx, bundle, noteMaskedAfterEachStep(steps), initial, {
    ...shape,
    existingBundle: !fresh,
    ...(options.flags.dryRun ? {} : { attest: attestWith(ctx, session.signingKey) }),
  });
  const { exitCode } = outcome;
  const summary = options.flags.dryRun ? { ...outcome.summary, ...DRY_RUN_VERDICT } : outcome.summary;
  if (options.flags.dryRun) await fs.remove(path.dirname(bundle.dir));
  else if (outcome.untouched && fresh) await fs.remove(bundle.dir);
  const keptBundle = !options.flags.dryRun && !(outcome.untouched && fresh);
  return {
    command,
    exitCode,
    ...(options.flags.dryRun ? { dryRun: true } : {}),
    verdict: outcome.error ? 'error' : summary.verdict,
    ...(keptBundle ? { bundle: path.relative(options.cwd, bundle.dir) || bundle.dir } : {}),
    summary,
    ...(outcome.error
      ? {
          error: {
            code: outcome.error.code,
            message: redact(outcome.error.message),
            details: outcome.error.details.map(redact),
            ...(outcome.error.hint ? { hint: outcome.error.hint } : {}),
          },
        }
      : {}),
  };
}
