import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import fs from 'fs-extra';
import { readSandboxState, type SandboxState } from '../../src/sandbox/state.js';
import { ownedHome } from './owned-home.js';
import type { CliRun } from './support.js';

/**
 * A sandbox of its own hosting fixtures/hotpass-upstream (Prefect 3.5.0, the upstream project's
 * deploy), beside the suite's shared one. A test file starts it in beforeAll and stops it in afterAll.
 */
const repo = path.resolve(import.meta.dirname, '..', '..');
export const UPSTREAM_FIXTURE = path.join(repo, 'fixtures', 'hotpass-upstream');
const cli = path.join(repo, 'bin', 'rehearse.js');

let home: string | undefined;
/** How long the last `sandbox up` took, for the suite's log. */
export let upstreamUpMs = 0;

const homeOrThrow = (): string => {
  if (!home) throw new Error('the upstream sandbox is not started: call startUpstreamSandbox() in beforeAll');
  return home;
};

export async function startUpstreamSandbox(extraArgs: string[] = []): Promise<SandboxState> {
  home = await ownedHome('upstream');
  const started = Date.now();
  const up = await execa('node', [cli, 'sandbox', 'up', '--project-dir', UPSTREAM_FIXTURE, ...extraArgs], {
    // Each runs entry holds every slot of the key (occupy = the limit), so runs take turns: entries of
    // 5 s (the workers and their flow runs inherit this) keep a run holding them long enough for the
    // next to be RUNNING and waiting beside it, however slowly a loaded machine starts flow processes.
    // With 1-s entries the runs never overlapped on a busy CI machine and the deployment limit was,
    // rightly, judged inconclusive.
    env: { ...process.env, REHEARSE_SANDBOX_HOME: home, CI: '1', HOTPASS_STANDIN_ENTRY_SECONDS: '5' },
    reject: false,
    all: true,
    timeout: 600_000,
  });
  upstreamUpMs = Date.now() - started;
  if (up.exitCode !== 0) throw new Error(`sandbox up --project-dir failed (exit ${up.exitCode}):\n${up.all}`);
  return upstreamSandbox();
}

export async function stopUpstreamSandbox(): Promise<void> {
  if (!home) return;
  const env = { ...process.env, REHEARSE_SANDBOX_HOME: home };
  await execa('node', [cli, 'sandbox', 'down', '--purge'], { env, reject: false });
  home = undefined;
}

export async function upstreamSandbox(): Promise<SandboxState> {
  const state = await readSandboxState(homeOrThrow());
  if (!state) throw new Error('the upstream sandbox is not running');
  return state;
}

/**
 * The built CLI as an operator would run it against the upstream sandbox: `--sandbox` finds it
 * (REHEARSE_SANDBOX_HOME) and PREFECT_API_URL points at it for commands run without `--sandbox`.
 */
export async function rehearseUpstream(
  args: string[],
  options: { cwd: string; env?: Record<string, string>; timeoutMs?: number },
): Promise<CliRun> {
  const state = await upstreamSandbox();
  const result = await execa('node', [cli, ...args], {
    cwd: options.cwd,
    env: {
      ...process.env,
      REHEARSE_SANDBOX_HOME: homeOrThrow(),
      PREFECT_API_URL: state.apiUrl,
      CI: '1',
      ...options.env,
    },
    reject: false,
    timeout: options.timeoutMs ?? 600_000,
  });
  return { exitCode: result.exitCode ?? -1, stdout: result.stdout, stderr: result.stderr };
}

/** A REST call to the upstream sandbox's API (retrying the 503 its SQLite gives while busy). */
export async function upstreamApi<T = unknown>(method: string, route: string, body?: unknown): Promise<T> {
  const { apiUrl } = await upstreamSandbox();
  for (let attempt = 1; ; attempt += 1) {
    const response = await fetch(`${apiUrl}${route}`, {
      method,
      headers: { 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    if (response.status === 503 && attempt < 5) {
      await response.arrayBuffer();
      await new Promise((resolve) => setTimeout(resolve, 300 * attempt));
      continue;
    }
    if (!response.ok) throw new Error(`${method} ${route}: ${response.status} ${await response.text()}`);
    const text = await response.text();
    return (text ? JSON.parse(text) : undefined) as T;
  }
}

/** A copy of the fixture's files (manifests, sources, pyproject) without its environment, to edit freely. */
export async function copyUpstreamFixture(): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'rehearse-upstream-copy-'));
  await fs.copy(UPSTREAM_FIXTURE, dir, { filter: (src) => !/[/\\](\.venv|__pycache__|dist)$/.test(src) });
  return dir;
}
