import path from 'node:path';
import fs from 'fs-extra';
import { CONFIG_FILES } from '../config/load.js';
import { ConfigSchema } from '../config/schema.js';
import { ExitCode, RehearseError } from '../errors.js';
import { configText } from '../init/config-text.js';
import { planInit } from '../init/plan.js';
import { createPrefectApi, type PrefectApi, splitApiUrl } from '../prefect/api.js';
import type { ProcessRunner } from '../process/command.js';
import { createProcessRunner } from '../process/runner.js';
import type { CommandResult, Reporter } from '../reporters/events.js';
import { defaultStateDir, readSandboxState } from '../sandbox/state.js';
import { formatIssues } from '../util/zod-issues.js';

export const INIT_FILE = 'rehearse.config.yaml';

export interface InitOptions {
  cwd: string;
  env: NodeJS.ProcessEnv;
  projectDir?: string;
  deployment?: string;
  sandbox: boolean;
  /** --stdout / --dry-run: print the file, write nothing. */
  print: boolean;
  /** Beside an existing config, write rehearse.config.yaml.new instead of refusing. */
  force: boolean;
  reporter: Reporter;
  signal: AbortSignal;
  runner?: ProcessRunner;
  /** Injected in tests; `null` for "no server". */
  api?: PrefectApi | null;
  now?: () => Date;
}

const API_TIMEOUT_MS = 10_000;
const HELP_TIMEOUT_MS = 120_000;

/** The server init reads: injected, the running sandbox, or PREFECT_API_URL; never started here. */
async function serverOf(options: InitOptions): Promise<{ api?: PrefectApi; apiFrom?: string; noApiReason?: string }> {
  if (options.api !== undefined)
    return options.api
      ? { api: options.api, apiFrom: options.sandbox ? 'sandbox' : 'PREFECT_API_URL' }
      : { noApiReason: 'no server given' };
  const apiKey = options.env.PREFECT_API_KEY;
  if (options.sandbox) {
    const state = await readSandboxState(defaultStateDir(options.env));
    if (!state) return { noApiReason: 'the sandbox is not running: start it with `rehearse sandbox up`' };
    const auth = state.authString ? { authString: state.authString } : {};
    return { api: createPrefectApi({ apiUrl: state.apiUrl, ...auth, timeoutMs: API_TIMEOUT_MS }), apiFrom: 'sandbox' };
  }
  const raw = options.env.PREFECT_API_URL;
  if (!raw) return { noApiReason: 'PREFECT_API_URL is not set, and --sandbox was not given' };
  const authString = splitApiUrl(raw).authString ?? options.env.PREFECT_API_AUTH_STRING;
  return {
    // The client takes the credentials out of the URL itself, and never shows them.
    api: createPrefectApi({
      apiUrl: raw,
      ...(apiKey ? { apiKey } : {}),
      ...(authString ? { authString } : {}),
      timeoutMs: API_TIMEOUT_MS,
    }),
    apiFrom: 'PREFECT_API_URL',
  };
}

/** Where the file goes; refuses to replace any config that is already there. */
function targetOf(options: InitOptions): string {
  const existing = CONFIG_FILES.filter((name) => fs.existsSync(path.join(options.cwd, name)));
  if (existing.length === 0 || options.print) return path.join(options.cwd, INIT_FILE);
  if (!options.force) {
    throw new RehearseError('USAGE', `${existing.join(', ')} already exists: init never overwrites a config`, {
      hint: `compare with \`rehearse init --stdout\`, or pass --force to write ${INIT_FILE}.new beside it`,
    });
  }
  return path.join(options.cwd, `${INIT_FILE}.new`);
}

/** The text must load as rehearse loads a config; anything else is a bug of init, not the user's. */
async function assertLoads(text: string): Promise<void> {
  const { parse } = await import('yaml');
  const parsed = ConfigSchema.safeParse(parse(text));
  if (!parsed.success) {
    throw new RehearseError('UNEXPECTED_OUTPUT', 'rehearse init produced a config that does not load', {
      details: formatIssues(parsed.error.issues),
      hint: 'report this; `rehearse init --stdout` shows the text',
    });
  }
}

/** The config written where none is (a .new file beside an existing one may be replaced). */
async function writeNewConfig(target: string, text: string): Promise<void> {
  await fs
    .writeFile(target, text, { flag: target.endsWith('.new') ? 'w' : 'wx' })
    .catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'EEXIST') throw error;
      throw new RehearseError(
        'USAGE',
        `${path.basename(target)} appeared while init ran: init never overwrites a config`,
        { hint: 'rerun init' },
      );
    });
}

/** `rehearse init`: a commented rehearse.config.yaml from the checkout, its deploy CLI and the live deployment. */
export async function init(options: InitOptions): Promise<CommandResult> {
  const target = targetOf(options);
  const projectDir = path.resolve(options.cwd, options.projectDir ?? '.');
  if (!(await fs.pathExists(projectDir))) {
    throw new RehearseError('USAGE', `project directory not found: ${projectDir}`, {
      hint: 'run init in the project checkout, or pass --project-dir',
    });
  }
  const server = await serverOf(options);
  const plan = await planInit({
    cwd: options.cwd,
    projectDir,
    runner: options.runner ?? createProcessRunner({ timeoutMs: HELP_TIMEOUT_MS }),
    ...(options.deployment ? { deployment: options.deployment } : {}),
    ...server,
    commandTimeoutMs: HELP_TIMEOUT_MS,
    signal: options.signal,
    // Printed, the file may be redirected into place: progress lines would break it.
    onProgress: (message) => {
      if (!options.print) options.reporter.emit({ type: 'info', message: `init: ${message}` });
    },
  });
  if (!plan.manifest && plan.deploymentFrom === 'none') {
    throw new RehearseError(
      'USAGE',
      `no Prefect deployment manifest in ${projectDir}/prefect/deployments and no deployment read from a server`,
      {
        details: plan.undecided,
        hint: 'run init in the project checkout (or pass --project-dir), with PREFECT_API_URL set or --sandbox',
      },
    );
  }
  const text = configText(plan, (options.now ?? (() => new Date()))());
  await assertLoads(text);
  const undecidedLines = plan.undecided.length
    ? ['not decided (also listed at the top of the file):', ...plan.undecided.map((item) => `  - ${item}`)]
    : [];
  const data = { file: options.print ? null : target, plan };
  if (options.print) {
    return { command: 'init', exitCode: ExitCode.ok, verdict: 'pass', data, lines: text.trimEnd().split('\n') };
  }
  await writeNewConfig(target, text);
  return {
    command: 'init',
    exitCode: ExitCode.ok,
    verdict: 'pass',
    data,
    lines: [
      `wrote ${path.relative(options.cwd, target)}: deployment ${plan.deployment ?? '?'}, work pool ${plan.workPool ?? '?'}, window ${plan.window.mode}`,
      ...undecidedLines,
      `next: \`rehearse doctor${options.sandbox ? ' --sandbox' : ''}\`, then \`rehearse backfill${options.sandbox ? ' --sandbox' : ''}\``,
    ],
  };
}
