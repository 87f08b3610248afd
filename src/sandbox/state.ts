import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fs from 'fs-extra';
import { z } from 'zod';
import { writeFileAtomic } from '../util/atomic-write.js';

/** Where rehearse is installed: the folders it ships beside dist/ (package.json `files`). */
export const PACKAGE_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The stand-in hotpass project shipped with rehearse. */
export const FIXTURE_PROJECT = path.join(PACKAGE_ROOT, 'fixtures', 'hotpass');

export function defaultStateDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.REHEARSE_SANDBOX_HOME) return path.resolve(env.REHEARSE_SANDBOX_HOME);
  const base = env.XDG_STATE_HOME ?? path.join(os.homedir(), '.local', 'state');
  return path.join(base, 'rehearse', 'sandbox');
}

const ProcessInfo = z.object({ pid: z.number().int(), log: z.string() });

const SandboxStateSchema = z.object({
  version: z.literal(1),
  apiUrl: z.string(),
  uiUrl: z.string(),
  port: z.number().int(),
  stateDir: z.string(),
  prefectHome: z.string(),
  projectDir: z.string(),
  startedAt: z.string(),
  server: ProcessInfo,
  worker: ProcessInfo.optional(),
  /** Every worker started on the pool (`--workers N`); `worker` is the first of them. */
  workers: z.array(ProcessInfo).optional(),
  /** Environment the hosted project's deploy, workers and flow runs need on top of the sandbox's. */
  projectEnv: z.record(z.string(), z.string()).optional(),
  /** The hosted project's own deploy command, as run (`uv run ...`). */
  deployCommand: z.array(z.string()).optional(),
  prefectVersion: z.string().optional(),
  deployment: z.string().optional(),
  workPool: z.string().optional(),
  concurrencyKey: z.string().optional(),
  /** `--database postgres`: the sandbox's own cluster; absent for the embedded SQLite database. */
  postgres: z
    .object({
      dataDir: z.string(),
      port: z.number().int(),
      bin: z.string(),
      log: z.string(),
      runAs: z.string().optional(),
      password: z.string(),
    })
    .optional(),
  /** `--auth`: the server's basic-auth string (user:pass); every client of the sandbox sends it. */
  authString: z.string().optional(),
  /** `--timing`: quick pickup (the default) or Prefect's own defaults, as a staging server has them. */
  timing: z.enum(['quick', 'staging']).optional(),
  /** Quick timing's warm flow starter (sandbox/flow-starter.ts): flow processes fork from it. */
  flowStarter: ProcessInfo.extend({ socket: z.string() }).optional(),
});
export type SandboxState = z.infer<typeof SandboxStateSchema>;

export const sandboxWorkers = (state: SandboxState): NonNullable<SandboxState['workers']> =>
  state.workers ?? (state.worker ? [state.worker] : []);

const stateFile = (stateDir: string): string => path.join(stateDir, 'sandbox.json');

export async function readSandboxState(stateDir: string): Promise<SandboxState | undefined> {
  const file = stateFile(stateDir);
  if (!(await fs.pathExists(file))) return undefined;
  const parsed = SandboxStateSchema.safeParse(await fs.readJson(file).catch(() => undefined));
  return parsed.success ? parsed.data : undefined;
}

/** The sandbox's state for a fault acting on its processes: there must be one. */
export async function requireSandboxState(stateDir: string): Promise<SandboxState> {
  const state = await readSandboxState(stateDir);
  if (!state) throw new Error(`no sandbox state in ${stateDir}`);
  return state;
}

export async function writeSandboxState(state: SandboxState): Promise<void> {
  // It holds the sandbox's auth string and database password: readable by its owner only.
  await writeFileAtomic(stateFile(state.stateDir), `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
}

/** The `--auth` string alone, readable by its owner only: `sandbox env` points at it instead of printing it. */
export const authStringFile = (stateDir: string): string => path.join(stateDir, 'api-auth-string');

export async function writeAuthStringFile(state: SandboxState): Promise<void> {
  if (state.authString) await writeFileAtomic(authStringFile(state.stateDir), state.authString, { mode: 0o600 });
}

export async function removeSandboxState(stateDir: string): Promise<void> {
  await fs.remove(stateFile(stateDir));
}

/** What the sandbox's state file may show: everything but its secrets (the auth string, the database password). */
export function publicSandboxState(state: SandboxState): Omit<SandboxState, 'authString' | 'postgres'> & {
  database: 'sqlite' | 'postgres';
  auth: boolean;
  postgres?: Omit<NonNullable<SandboxState['postgres']>, 'password'>;
} {
  const { authString, postgres, ...rest } = state;
  const database = postgres ? 'postgres' : 'sqlite';
  if (!postgres) return { ...rest, database, auth: Boolean(authString) };
  const { password: _password, ...cluster } = postgres;
  return { ...rest, database, auth: Boolean(authString), postgres: cluster };
}

/**
 * `--timing quick` (the default): the sandbox's server and workers react within about a second instead of
 * Prefect's defaults (slot retry 30 s, polling 10 s, prefetch 10 s, heartbeat 30 s). Only waiting changes:
 * limits, strategy, and how long a run holds its slot stay as deployed. `--timing staging` keeps the defaults.
 */
export const QUICK_TIMING: Readonly<Record<string, string>> = {
  // A queued run retries its deployment slot every second instead of every 30 s.
  PREFECT_SERVER_DEPLOYMENTS_CONCURRENCY_SLOT_WAIT_SECONDS: '1',
  // The worker asks for scheduled runs every second, and takes those due within 5 s.
  PREFECT_WORKER_QUERY_SECONDS: '1',
  PREFECT_WORKER_PREFETCH_SECONDS: '5',
  // A stopped worker is seen as gone after three missed heartbeats: 15 s instead of 90 s.
  PREFECT_WORKER_HEARTBEAT_SECONDS: '5',
  // A slot of the concurrency key whose holder was killed comes back when its lease expires. Prefect has no
  // server setting for that lease: `concurrency()` takes it as `lease_duration` (default 300 s, the server
  // accepts 60 s and more). The stand-in flow reads it from here: 60 s, so a kill-flow rehearsal ends in
  // minutes, not ten. The server looks for expired leases every second instead of every 15 s.
  HOTPASS_CONCURRENCY_LEASE_SECONDS: '60',
  PREFECT_SERVER_SERVICES_REPOSSESSOR_LOOP_SECONDS: '1',
};

/** Environment for the sandbox's own server and worker processes, and for any client of it. */
export function sandboxProcessEnv(
  state: Pick<SandboxState, 'apiUrl' | 'prefectHome' | 'projectEnv' | 'authString' | 'timing'>,
): Record<string, string> {
  return {
    ...state.projectEnv,
    ...(state.authString ? { PREFECT_API_AUTH_STRING: state.authString } : {}),
    PREFECT_HOME: state.prefectHome,
    PREFECT_API_URL: state.apiUrl,
    // The UI asks the server where its API is; without this it points at the default port 4200.
    PREFECT_UI_API_URL: state.apiUrl,
    PREFECT_SERVER_ANALYTICS_ENABLED: 'false',
    DO_NOT_TRACK: '1',
    PREFECT_CLI_PROMPT: 'false',
    PREFECT_CLI_COLORS: 'false',
    PREFECT_CLI_WRAP_LINES: 'false',
    ...(state.timing === 'staging' ? {} : QUICK_TIMING),
  };
}
