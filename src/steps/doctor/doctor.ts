import path from 'node:path';
import fs from 'fs-extra';
import { loadExpectedGuardrails } from '../../config/manifest-file.js';
import { ConfigSchema } from '../../config/schema.js';
import type { Context } from '../../context.js';
import { RehearseError } from '../../errors.js';
import { isPrefectCloud } from '../../prefect/api.js';
import {
  createGlobalLimitArgs,
  createWorkPoolArgs,
  enableGlobalLimitArgs,
  resumeWorkPoolArgs,
  startWorkerArgs,
} from '../../prefect/cli-args.js';
import { pipShowPrefectCommand, prefectVersionCommand, toolVersionCommand } from '../../prefect/commands.js';
import {
  cleanupFix,
  createLimitFix,
  enableLimitFix,
  INSTALL_UV,
  INVALID_LIMIT_NAME,
  prefectLine,
} from '../../prefect/fixes.js';
import {
  askServerVersion,
  checkHealth,
  type DeploymentRef,
  listWorkers,
  readDeployment,
  readGlobalLimit,
  readWorkPool,
  resolveDeploymentName,
} from '../../prefect/queries.js';
import type { Deployment } from '../../prefect/schemas.js';
import { isLive } from '../../prefect/workers.js';
import { cliOf } from '../prefect-cli.js';
import { bad, checkCodeSource, checkLeftoverRuns, checkPaused, ok, warning } from './deployment.js';
import { blockersOf, type DoctorCheck, findingsOf } from './kinds.js';

export type { DoctorCheck } from './kinds.js';

import { type ProcessResult, whyFailed } from '../../process/command.js';
import type { Step } from '../step.js';

/** The last line of output: where version strings and error summaries land. */
const lastLine = (text: string): string => text.trim().split('\n').at(-1) ?? '';

/**
 * prefect's version without starting Python when the CLI runs through uv (`uv pip show` reads the
 * project's environment in a fraction of a second); Python only if that cannot answer.
 */
async function readPrefectVersion(ctx: Context): Promise<ProcessResult> {
  const prefect = prefectVersionCommand(cliOf(ctx));
  const viaUv = ctx.config.prefect.command.join(' ') === 'uv run prefect';
  if (viaUv) {
    const shown = await ctx.runner.run(pipShowPrefectCommand(cliOf(ctx)));
    const version = /^Version: (\S+)$/m.exec(shown.stdout)?.[1];
    if (shown.exitCode === 0 && version) return { ...shown, stdout: version };
  }
  return ctx.runner.run(prefect);
}

interface ToolChecks {
  checks: DoctorCheck[];
  /** The project's prefect, when it answered. */
  clientVersion: string | undefined;
}

async function checkTools(ctx: Context): Promise<ToolChecks> {
  const prefect = prefectVersionCommand(cliOf(ctx));
  const [uv, version] = await Promise.all([ctx.runner.run(toolVersionCommand(prefect.file)), readPrefectVersion(ctx)]);
  const tool = prefect.file;
  const toolFix =
    tool === 'uv' ? `install it with ${INSTALL_UV}` : 'install it, or set prefect.command in rehearse.config';
  const clientVersion = version.exitCode === 0 ? lastLine(version.stdout) : undefined;
  return {
    clientVersion,
    checks: [
      uv.exitCode === 0
        ? ok('tools.uv', `${tool} present`, lastLine(uv.stdout))
        : bad(
            'tools.uv',
            `${tool} present`,
            `${tool} ${uv.spawnError ? 'is not installed or not on PATH' : whyFailed(uv)}`,
            toolFix,
          ),
      clientVersion
        ? ok('tools.prefect', 'prefect present', `prefect ${clientVersion} in ${ctx.prefect.projectDir}`)
        : bad(
            'tools.prefect',
            'prefect present',
            `\`${[prefect.file, ...prefect.args].join(' ')}\` in ${ctx.prefect.projectDir} ${whyFailed(version)}`,
            'run rehearse from the project checkout whose uv environment has prefect (uv sync), or pass --project-dir',
          ),
    ],
  };
}

/** Client and server of different versions mostly work, but a rehearsal should say it ran so. */
function checkVersions(client: string | undefined, server: string | undefined): DoctorCheck[] {
  const title = 'client and server prefect versions match';
  if (!client || !server) return [];
  if (client === server) return [ok('versions.match', title, `prefect ${client} on both`)];
  return [
    warning(
      'versions.match',
      title,
      `the project's prefect is ${client}, the server's ${server}: CLI ` +
        "commands and the server may disagree; pin the project to the server's version, or rehearse against a " +
        `server of ${client}`,
    ),
  ];
}

/** `--work-pool` (or workPool in the config) names the pool to check; otherwise the deployment's. */
function poolToCheck(ctx: Context, deployment: Deployment | undefined): string {
  const chosen = ctx.config.workPool !== DEFAULT_WORK_POOL;
  return chosen ? ctx.config.workPool : (deployment?.work_pool_name ?? ctx.config.workPool);
}

const DEFAULT_WORK_POOL = ConfigSchema.shape.workPool.parse(undefined);

async function checkPool(ctx: Context, name: string, deployment: Deployment | undefined): Promise<DoctorCheck> {
  const id = 'work_pool.ready';
  const title = 'work pool ready with a live worker';
  const cli = ctx.config.prefect.command;
  const elsewhere =
    deployment?.work_pool_name && deployment.work_pool_name !== name
      ? ` (the deployment itself runs on ${deployment.work_pool_name})`
      : '';
  const pool = await readWorkPool(ctx.api, name);
  if (!pool) {
    return bad(id, title, `work pool ${name} does not exist${elsewhere}`, prefectLine(cli, createWorkPoolArgs(name)));
  }
  if (pool.pool.is_paused) {
    const resume = resumeWorkPoolArgs(name);
    return {
      ...bad(
        id,
        title,
        `work pool ${name} is paused: runs would queue indefinitely${elsewhere}`,
        prefectLine(cli, resume),
      ),
      apply: [resume],
    };
  }
  const workers = await listWorkers(ctx.api, name);
  const live = workers.filter((w) => isLive(w, ctx.now()));
  if (live.length) return ok(id, title, `${name}: ${live.length} live worker(s)${elsewhere}`);
  const known = workers.length ? ` (${workers.length} known, none heard from lately)` : '';
  return bad(
    id,
    title,
    `no live worker polls ${name}${known}: runs would queue indefinitely${elsewhere}`,
    `start one: ${prefectLine(cli, startWorkerArgs(name))}`,
  );
}

async function checkGlobalLimit(ctx: Context, deployment: Deployment | undefined): Promise<DoctorCheck[]> {
  const id = 'global_limit.free';
  const title = 'global limit exists, active and free';
  const expected = await loadExpectedGuardrails(ctx.prefect.projectDir, ctx.config.manifest).catch((error: unknown) => {
    if (error instanceof RehearseError) return error;
    throw error;
  });
  // Without the manifest there is no key to look up: say the check was not made rather than drop it.
  if (expected instanceof RehearseError) {
    return [warning(id, title, `not checked: the manifest names the limit and cannot be read (${expected.message})`)];
  }
  const key = expected.concurrencyKey;
  if (!key) return [];
  const cli = ctx.config.prefect.command;
  // Missing, unnameable or inactive, the limit is a broken guardrail (a finding: inspect fails it
  // with the evidence); its slots held by other runs block (FAILURE_KINDS).
  if (INVALID_LIMIT_NAME.test(key)) {
    return [
      bad(
        id,
        title,
        `concurrency key ${key} can never name a global concurrency limit (Prefect refuses / % & > <` +
          ' in names), so the flow runs unthrottled',
        createLimitFix(cli, key, expected.keyLimit, deployment),
        'global_limit.unnameable',
      ),
    ];
  }
  const gcl = await readGlobalLimit(ctx.api, key);
  if (!gcl) {
    const fix = createLimitFix(cli, key, expected.keyLimit);
    const missing = bad(id, title, `global concurrency limit ${key} does not exist`, fix, 'global_limit.missing');
    // Created with the manifest's limit only: without one there is no number to apply.
    const limit = expected.keyLimit;
    return [limit === undefined ? missing : { ...missing, apply: [createGlobalLimitArgs(key, limit)] }];
  }
  if (!gcl.active) {
    const fix = enableLimitFix(cli, key);
    const inactive = bad(id, title, `global concurrency limit ${key} is inactive`, fix, 'global_limit.inactive');
    return [{ ...inactive, apply: [enableGlobalLimitArgs(key)] }];
  }
  if (gcl.active_slots > 0) {
    return [
      bad(
        id,
        title,
        `${gcl.active_slots} of ${gcl.limit} slot(s) of ${key} are held, by an earlier rehearsal or ` +
          "another run: the rehearsal's runs would wait",
        `${cleanupFix(ctx.prefect.sandbox)} (force-cancels leftover ` +
          'rehearsal runs and frees the slots they hold); if no rehearsal holds them, wait for the runs that do',
      ),
    ];
  }
  return [ok(id, title, `${key}: active, limit ${gcl.limit}, no slot held`)];
}

async function checkDeployment(ctx: Context): Promise<{ checks: DoctorCheck[]; deployment?: Deployment }> {
  let ref: DeploymentRef;
  let deployment: Deployment;
  try {
    ref = await resolveDeploymentName(ctx.api, ctx.config.deployment);
    deployment = (await readDeployment(ctx.api, ref)).deployment;
  } catch (error) {
    if (!(error instanceof RehearseError)) throw error;
    const fix = error.hint ?? 'deploy it first';
    return { checks: [bad('deployment.exists', 'deployment exists and is not paused', error.message, fix)] };
  }
  const poolName = deployment.work_pool_name ?? ctx.config.workPool;
  const pool = await readWorkPool(ctx.api, poolName);
  return {
    deployment,
    checks: [
      checkPaused(ctx, ref, deployment, poolName),
      checkCodeSource(ctx, ref, deployment, pool?.pool),
      ...(await checkLeftoverRuns(ctx, ref, deployment)),
    ],
  };
}

/** What the API client sends, named by where it came from: the URL's userinfo, a variable, or the sandbox. */
function credentialsSent(ctx: Context): string {
  if (ctx.prefect.authFrom) return ctx.prefect.authFrom;
  if (ctx.env.PREFECT_API_AUTH_STRING) return 'the basic-auth string in PREFECT_API_AUTH_STRING';
  if (ctx.env.PREFECT_API_KEY) return 'the key in PREFECT_API_KEY';
  return 'no credentials (neither PREFECT_API_AUTH_STRING nor PREFECT_API_KEY is set)';
}

/** What to do about credentials the server refused (or demanded), naming the ones sent and where to fix them. */
function authFix(ctx: Context): string {
  if (ctx.prefect.sandbox) return 'the sandbox demands its auth string: `eval "$(rehearse sandbox env)"` exports it';
  const sentString = ctx.prefect.authFrom ?? (ctx.env.PREFECT_API_AUTH_STRING ? credentialsSent(ctx) : undefined);
  if (sentString)
    return `${sentString} is not what the server expects: fix it there, to the server's PREFECT_SERVER_API_AUTH_STRING (user:pass)`;
  return (
    "export PREFECT_API_AUTH_STRING=<user:pass>, the server's PREFECT_SERVER_API_AUTH_STRING (or " +
    'PREFECT_API_KEY for Prefect Cloud)'
  );
}

/**
 * /health answers anyone; the rest of the API answers 401 to a client without the credentials a
 * self-hosted server's PREFECT_SERVER_API_AUTH_STRING (or Prefect Cloud) demands.
 */
function checkAuth(ctx: Context, response: { status: number }): DoctorCheck {
  const title = 'API accepts our credentials';
  const sent = credentialsSent(ctx);
  if (response.status === 401 || response.status === 403) {
    return bad('api.auth', title, `${ctx.prefect.apiUrl} answered HTTP ${response.status} to ${sent}`, authFix(ctx));
  }
  return ok('api.auth', title, response.status === 200 ? `accepted ${sent}` : `HTTP ${response.status}`);
}

async function checkServer(ctx: Context): Promise<{ checks: DoctorCheck[]; serverVersion?: string }> {
  const url = ctx.prefect.apiUrl;
  const checks: DoctorCheck[] = [];
  if (isPrefectCloud(url) && !ctx.env.PREFECT_API_KEY) {
    checks.push(
      bad(
        'api.key',
        'API key for Prefect Cloud',
        `${url} is Prefect Cloud and PREFECT_API_KEY is not set`,
        'export PREFECT_API_KEY=<a key with access to this workspace>',
      ),
    );
  }
  const health = await checkHealth(ctx.api);
  // A proxy whose basic auth covers every path (plain nginx auth_basic) refuses /health too: that is the credentials.
  if (health.status === 401 || health.status === 403) {
    const reason =
      `${url}/health answered ${health.detail} to ${credentialsSent(ctx)}: ` +
      'something in front of the API (a proxy) demands basic auth on every path';
    return { checks: [...checks, bad('api.auth', 'API accepts our credentials', reason, authFix(ctx))] };
  }
  if (!health.ok) {
    checks.push(
      bad(
        'api.health',
        'Prefect API healthy',
        `${url}/health: ${health.detail}`,
        'check PREFECT_API_URL and that the port-forward or server is up (rehearse sandbox up for the local one)',
      ),
    );
    return { checks };
  }
  const answer = await askServerVersion(ctx.api);
  const auth = checkAuth(ctx, answer);
  if (auth.verdict === 'fail') return { checks: [...checks, auth] };
  const serverVersion = answer.version;
  checks.push(ok('api.health', 'Prefect API healthy', `${url} answers, server ${serverVersion ?? 'version unknown'}`));
  checks.push(auth);
  const { checks: deploymentChecks, deployment } = await checkDeployment(ctx);
  checks.push(...deploymentChecks);
  checks.push(await checkPool(ctx, poolToCheck(ctx, deployment), deployment));
  checks.push(...(await checkGlobalLimit(ctx, deployment)));
  return { checks, ...(serverVersion ? { serverVersion } : {}) };
}

async function checkEvidenceRoot(ctx: Context): Promise<DoctorCheck> {
  const root = path.resolve(ctx.cwd, ctx.config.evidenceRoot);
  let existing = root;
  while (!(await fs.pathExists(existing)) && path.dirname(existing) !== existing) existing = path.dirname(existing);
  try {
    if (!(await fs.stat(existing)).isDirectory()) {
      throw Object.assign(new Error('not a directory'), { code: 'ENOTDIR' });
    }
    await fs.access(existing, fs.constants.W_OK);
    return ok('evidence_root.writable', 'evidence root writable', root);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'error';
    return bad(
      'evidence_root.writable',
      'evidence root writable',
      `cannot write under ${root} (${code} at ${existing})`,
      'fix permissions, or choose another root with --evidence-root',
    );
  }
}

/** The runbook's troubleshooting as checks: each failure says what to run to fix it. */
export async function runDoctor(ctx: Context): Promise<DoctorCheck[]> {
  const [tools, server, root] = await Promise.all([checkTools(ctx), checkServer(ctx), checkEvidenceRoot(ctx)]);
  // Checks cut short by Ctrl-C failed because of it, not because of the tools or the server.
  if (ctx.signal.aborted) throw new RehearseError('INTERRUPTED', "interrupted during the doctor's checks");
  return [...tools.checks, ...checkVersions(tools.clientVersion, server.serverVersion), ...server.checks, root];
}

const listed = (checks: readonly DoctorCheck[]): string => checks.map((c) => c.title).join('; ');

/**
 * The doctor as the first step of the whole rehearsal. A blocker stops it before anything is
 * triggered; a finding is recorded as the step's failed check (its verdict, count and report row)
 * and the rehearsal goes on to measure it. A warning is a note, not a verdict.
 */
export const preflightStep: Step = {
  name: 'preflight',
  title: 'doctor: tools, API, deployment, worker, global limit, evidence root',
  async run(ctx) {
    const checks = await runDoctor(ctx);
    const blockers = blockersOf(checks);
    const findings = findingsOf(checks);
    const warnings = checks.filter((c) => c.verdict === 'inconclusive');
    if (blockers.length > 0) {
      // A step that stops records no checks, so they are shown here; the error's data keeps them.
      checks.forEach((check) => ctx.reporter.emit({ type: 'check', check }));
      const failed = [...blockers, ...findings];
      const code = blockers.some((c) => c.id.startsWith('tools.')) ? 'TOOL_MISSING' : 'COMMAND_FAILED';
      throw new RehearseError(
        code,
        `preflight: ${failed.length} check(s) failed, ${blockers.length} of them blocking the rehearsal, so nothing was triggered`,
        {
          details: failed.map((c) => `${c.kind}: ${c.title}: ${c.reason}`),
          hint: 'fix the above and rerun; `rehearse doctor` runs the same checks alone',
          data: { checks },
        },
      );
    }
    warnings.forEach((c) => ctx.reporter.emit({ type: 'warn', message: `${c.title}: ${c.reason}` }));
    if (findings.length > 0) {
      const message = `preflight: ${findings.length} guardrail finding(s), which the rehearsal goes on to record: ${listed(findings)}`;
      ctx.reporter.emit({ type: 'warn', message });
    }
    const notes = warnings.map((c) => ({ id: c.id, reason: c.reason }));
    return {
      checks: checks.filter((c) => c.verdict !== 'inconclusive'),
      files: [],
      ...(notes.length ? { data: { warnings: notes } } : {}),
    };
  },
};
