import path from 'node:path';
import type { PrefectApi } from '../prefect/api.js';
import { INVALID_LIMIT_NAME, suggestLimitName } from '../prefect/fixes.js';
import { DEFAULT_RUN_VERSION } from '../prefect/parameters.js';
import { checkHealth } from '../prefect/queries.js';
import type { ProcessRunner } from '../process/command.js';
import type { InitPlan } from './config-text.js';
import { deployCommandOf, probeDeployCli } from './deploy-cli.js';
import { chooseWindow, type LiveFacts, readLive } from './live.js';
import { readProject } from './project.js';

export interface PlanInput {
  cwd: string;
  projectDir: string;
  /** A deployment name to look for instead of the manifest's. */
  deployment?: string;
  runner: ProcessRunner;
  /** The server to read, if one is configured; `apiFrom` says where its address came from. */
  api?: PrefectApi;
  apiFrom?: string;
  /** Why there is no server to read, when there is none. */
  noApiReason?: string;
  commandTimeoutMs: number;
  signal?: AbortSignal;
  onProgress: (message: string) => void;
}

async function readServer(
  input: PlanInput,
  name: string | undefined,
  undecided: string[],
): Promise<LiveFacts | undefined> {
  const api = input.api;
  if (!api) {
    undecided.push(
      `the live deployment was not read (${input.noApiReason ?? 'no server'}): deployment, work pool and window come from the manifest; rerun init where the server answers to check them`,
    );
    return undefined;
  }
  if (!name) return undefined;
  input.onProgress(`reading deployment ${name} from ${api.baseUrl}`);
  const health = await checkHealth(api);
  if (!health.ok) {
    undecided.push(
      `the Prefect API at ${api.baseUrl} did not answer (${health.detail}): values come from the manifest`,
    );
    return undefined;
  }
  const { live, problem } = await readLive(api, name);
  if (problem) undecided.push(`the live deployment was not read: ${problem}`);
  return live;
}

type Project = Awaited<ReturnType<typeof readProject>>;

function noteManifestDoubts(project: Project, undecided: string[]): void {
  if (!project.manifest)
    undecided.push('no deployment manifest under prefect/deployments: set manifest, deployment and workPool by hand');
  for (const problem of project.problems) undecided.push(`manifest not read: ${problem}`);
  if (project.otherManifests.length) {
    undecided.push(
      `init chose ${project.manifestPath} of ${[project.manifestPath, ...project.otherManifests].join(', ')}: set manifest if the backfill is another`,
    );
  }
}

async function probeDeploy(input: PlanInput, project: Project, undecided: string[]) {
  input.onProgress(
    project.scripts.length
      ? `asking ${project.scripts.slice(0, 3).join(', ')} for their deploy --help`
      : 'no console script in pyproject.toml',
  );
  const probe = await probeDeployCli(input.runner, {
    scripts: project.scripts,
    projectDir: input.projectDir,
    usesUv: project.usesUv,
    timeoutMs: input.commandTimeoutMs,
    ...(input.signal ? { signal: input.signal } : {}),
  });
  if (!probe.cli) {
    undecided.push(
      `render: no deploy command answered --help${probe.tried.length ? ` (${probe.tried.join('; ')})` : ' (pyproject.toml lists no console script)'}`,
    );
  }
  return probe;
}

/** The live deployment's concurrency key, else the manifest's; one Prefect cannot name is noted. */
function chooseConcurrencyKey(
  live: LiveFacts | undefined,
  manifest: Project['manifest'],
  undecided: string[],
): string | undefined {
  const liveKey = live?.deployment.parameters.concurrency_key;
  const concurrencyKey =
    typeof liveKey === 'string'
      ? liveKey
      : typeof manifest?.parameters.concurrency_key === 'string'
        ? manifest.parameters.concurrency_key
        : undefined;
  if (concurrencyKey && INVALID_LIMIT_NAME.test(concurrencyKey)) {
    undecided.push(
      `concurrency key ${concurrencyKey} cannot name a Prefect global limit (/ % & > < are refused): global_limit fails until the key is renamed (e.g. ${suggestLimitName(concurrencyKey)}) and that limit created`,
    );
  }
  return concurrencyKey;
}

/** Reads the checkout, its deploy CLI and (when it answers) the server; decides what it can. */
export async function planInit(input: PlanInput): Promise<InitPlan> {
  const undecided: string[] = [];
  input.onProgress(`reading ${path.relative(input.cwd, input.projectDir) || '.'}/prefect/deployments`);
  const project = await readProject(input.projectDir);
  const manifest = project.manifest;
  noteManifestDoubts(project, undecided);
  const probe = await probeDeploy(input, project, undecided);

  const live = await readServer(input, input.deployment ?? manifest?.name, undecided);
  const deployment = live?.fullName ?? input.deployment ?? manifest?.name;
  const livePool = live?.deployment.work_pool_name ?? undefined;
  if (live && manifest?.work_pool && livePool && livePool !== manifest.work_pool) {
    undecided.push(
      `work pool: the manifest says ${manifest.work_pool}, the live deployment ${livePool}; init wrote the live one`,
    );
  }
  const workPool = livePool ?? manifest?.work_pool;
  if (!workPool) undecided.push('workPool: neither the manifest nor the server names one');

  const concurrencyKey = chooseConcurrencyKey(live, manifest, undecided);

  const window = chooseWindow(live, manifest?.parameters ?? {});
  if (window.problem) undecided.push(`the window: ${window.problem}; fill run.window with a template`);
  const runsVersion = window.mode === 'runs' ? DEFAULT_RUN_VERSION : undefined;
  if (runsVersion)
    undecided.push(
      `run.window.version "${runsVersion}" is a default: set the version each {run_date, version} entry should replay`,
    );
  if (!project.manifestDir && manifest) {
    undecided.push(
      'manifestDir: no staging overlay (prefect/staging) found; init wrote prefect/deployments, the manifests themselves',
    );
  }

  const manifestDir = project.manifestDir ?? 'prefect/deployments';
  return {
    projectDir: path.relative(input.cwd, input.projectDir) || '.',
    ...(deployment ? { deployment } : {}),
    deploymentFrom: live ? 'live' : deployment ? 'manifest' : 'none',
    ...(workPool ? { workPool } : {}),
    workPoolFrom: livePool ? 'live' : workPool ? 'manifest' : 'none',
    ...(project.manifestPath ? { manifest: project.manifestPath } : {}),
    ...(manifest ? { manifestDir } : {}),
    manifestDirFound: Boolean(project.manifestDir),
    prefectCommand: project.usesUv ? ['uv', 'run', 'prefect'] : ['prefect'],
    ...(probe.cli ? { deployFlags: probe.cli.flags, deployArgv: probe.cli.argv } : {}),
    ...(probe.cli
      ? {
          deployCommand: deployCommandOf(probe.cli, manifest ? manifestDir : undefined, manifest?.id),
          deployDryRun: probe.cli.dryRun,
        }
      : {}),
    ...(concurrencyKey ? { concurrencyKey } : {}),
    window,
    ...(runsVersion ? { runsVersion } : {}),
    ...(input.api && live ? { apiUrl: input.api.baseUrl, ...(input.apiFrom ? { apiFrom: input.apiFrom } : {}) } : {}),
    ...(live?.serverVersion ? { serverVersion: live.serverVersion } : {}),
    undecided,
  };
}
