import path from 'node:path';
import fs from 'fs-extra';
import type { Command } from '../process/command.js';
import { isAlive, spawnDetached, stopGroup } from '../process/daemon.js';
import { PACKAGE_ROOT, type SandboxState } from './state.js';
import { pollUntil } from './wait.js';

/**
 * The warm flow starter (quick timing only): a Python process of the hosted project that imports
 * Prefect's engine once and forks each flow run's engine from it, so a run a worker picks up no
 * longer waits ~2 s for a fresh interpreter to import Prefect. The worker still starts its own
 * `python -m prefect.engine`; that process hands itself over through the `sitecustomize.py` beside
 * the starter (found through PYTHONPATH), waits for the forked child, forwards signals to it and
 * exits with its status. Without a starter answering, flow runs start as Prefect starts them.
 */
export const FLOW_STARTER_DIR = path.join(PACKAGE_ROOT, 'scripts', 'flow-starter');

export type FlowStarter = NonNullable<SandboxState['flowStarter']>;

// A Unix socket path must fit in 108 bytes (sun_path); a longer sandbox home goes without the starter.
const MAX_SOCKET_PATH = 100;

const flowStarterSocket = (stateDir: string): string => path.join(stateDir, 'flow-starter.sock');

/** `python starter.py SOCKET`, to run with the hosted project's `uv run`. */
export const flowStarterArgs = (stateDir: string): string[] => [
  'python',
  path.join(FLOW_STARTER_DIR, 'starter.py'),
  flowStarterSocket(stateDir),
];

/** Starts the starter and waits for its socket; undefined (the sandbox goes on without it) if it cannot. */
export async function startFlowStarter(stateDir: string, command: Command): Promise<FlowStarter | undefined> {
  const socket = flowStarterSocket(stateDir);
  if (Buffer.byteLength(socket) > MAX_SOCKET_PATH) return undefined;
  await fs.remove(socket);
  const log = path.join(stateDir, 'flow-starter.log');
  const pid = await spawnDetached(command, log);
  // Until its socket appears, or it exits (a Prefect it cannot serve says so in its log and ends).
  await pollUntil(async () => !isAlive(pid) || (await fs.pathExists(socket)), { timeoutMs: 60_000, intervalMs: 200 });
  if (isAlive(pid) && (await fs.pathExists(socket))) return { pid, log, socket };
  await stopGroup(pid, 2_000);
  return undefined;
}

/** What a worker needs so that the flow processes it starts hand themselves over to the starter. */
export function flowStarterEnv(
  state: Pick<SandboxState, 'flowStarter' | 'projectEnv'>,
  inherited: NodeJS.ProcessEnv = process.env,
): Record<string, string> {
  if (!state.flowStarter) return {};
  const pythonPath = state.projectEnv?.PYTHONPATH ?? inherited.PYTHONPATH;
  return {
    REHEARSE_FLOW_STARTER: state.flowStarter.socket,
    PYTHONPATH: [FLOW_STARTER_DIR, ...(pythonPath ? [pythonPath] : [])].join(path.delimiter),
  };
}
