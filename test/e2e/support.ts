import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import fs from 'fs-extra';
import { inject } from 'vitest';
import { readSandboxState, type SandboxState, sandboxProcessEnv } from '../../src/sandbox/state.js';
import { UP_MARKER } from './owned-home.js';

export const repo = path.resolve(import.meta.dirname, '..', '..');

let claimed: string | undefined;
const CLAIM = 'claimed-by-a-test-file';

/**
 * Claims one of the global setup's sandboxes for this test file (settle.ts does, before any test):
 * the first no other running file holds. Files run side by side (vitest.config.ts), never more than
 * there are sandboxes; should one wait, it waits for a file to end and release its sandbox.
 */
export async function claimSandbox(): Promise<string> {
  for (const end = Date.now() + 30 * 60_000; Date.now() < end; await new Promise((r) => setTimeout(r, 500))) {
    for (const home of inject('sandboxHomes')) {
      try {
        await fs.mkdir(path.join(home, CLAIM));
        claimed = home;
        await sandboxUp(home);
        return home;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      }
    }
  }
  throw new Error('no e2e sandbox came free within 30 minutes');
}

/**
 * Waits for the global setup's `sandbox up` of this home to end (the sandboxes start while the unit tests
 * run); a start that failed fails the file with its output.
 */
async function sandboxUp(home: string): Promise<void> {
  const marker = path.join(home, UP_MARKER);
  // Three starts side by side take about 40 s quiet, a few minutes with both cores busy.
  for (
    const end = Date.now() + 15 * 60_000;
    !(await fs.pathExists(marker));
    await new Promise((r) => setTimeout(r, 500))
  )
    if (Date.now() > end) throw new Error(`the e2e sandbox at ${home} was not up within 15 minutes`);
  const up = (await fs.readJson(marker)) as { exitCode: number; output?: string };
  if (up.exitCode !== 0) throw new Error(`sandbox up failed (exit ${up.exitCode}):\n${up.output}`);
}

export async function releaseSandbox(): Promise<void> {
  if (claimed) await fs.remove(path.join(claimed, CLAIM));
  claimed = undefined;
}

/** This test file's sandbox, shared with no other file while it runs. */
export function sandboxHome(): string {
  if (!claimed) throw new Error('this test file has not claimed a sandbox (settle.ts claims one)');
  return claimed;
}

export async function sandbox(): Promise<SandboxState> {
  const state = await readSandboxState(sandboxHome());
  if (!state) throw new Error('the e2e sandbox is not running');
  return state;
}

export interface CliRun {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** Runs the built CLI as an operator would, in its own working directory. */
export async function rehearse(
  args: string[],
  options: { cwd: string; env?: Record<string, string>; timeoutMs?: number; onStart?: (pid: number) => void },
): Promise<CliRun> {
  const subprocess = execa('node', [path.join(repo, 'bin/rehearse.js'), ...args], {
    cwd: options.cwd,
    env: { ...process.env, REHEARSE_SANDBOX_HOME: sandboxHome(), CI: '1', ...options.env },
    reject: false,
    timeout: options.timeoutMs ?? 600_000,
  });
  if (subprocess.pid !== undefined) options.onStart?.(subprocess.pid);
  const result = await subprocess;
  return { exitCode: result.exitCode ?? -1, stdout: result.stdout, stderr: result.stderr };
}

/** `uv run prefect ...` in the sandbox's environment: how a test breaks a guardrail on the real server. */
export async function prefect(args: string[]): Promise<CliRun> {
  const state = await sandbox();
  for (let attempt = 1; ; attempt += 1) {
    const result = await execa('uv', ['run', 'prefect', ...args], {
      cwd: state.projectDir,
      env: { ...process.env, ...sandboxProcessEnv(state) },
      reject: false,
    });
    if (result.exitCode === 0) return { exitCode: 0, stdout: result.stdout, stderr: result.stderr };
    // The sandbox's SQLite answers 503 while another writer holds the database: try again shortly.
    const locked = /503|Service Unavailable|database is locked/.test(result.stdout + result.stderr);
    if (!locked || attempt >= 4) throw new Error(`prefect ${args.join(' ')} failed: ${result.stdout}${result.stderr}`);
    await new Promise((resolve) => setTimeout(resolve, 500 * attempt));
  }
}

/** The sandbox demands its basic-auth string of every client, the tests included. */
const authHeader = (state: SandboxState): Record<string, string> =>
  state.authString ? { authorization: `Basic ${Buffer.from(state.authString).toString('base64')}` } : {};

/** A GET's body exactly as the server sent it. */
export async function apiText(route: string): Promise<string> {
  const state = await sandbox();
  const response = await fetch(`${state.apiUrl}${route}`, { headers: authHeader(state) });
  if (!response.ok) throw new Error(`GET ${route}: ${response.status}`);
  return response.text();
}

export async function api<T = unknown>(method: string, route: string, body?: unknown): Promise<T> {
  const state = await sandbox();
  let response: Response;
  for (let attempt = 1; ; attempt += 1) {
    response = await fetch(`${state.apiUrl}${route}`, {
      method,
      headers: { 'content-type': 'application/json', ...authHeader(state) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    // As rehearse's own client does: a 503 from the sandbox's SQLite is a locked database, worth a retry.
    if (response.status !== 503 || attempt >= 5) break;
    await response.arrayBuffer();
    await new Promise((resolve) => setTimeout(resolve, 300 * attempt));
  }
  if (!response.ok) throw new Error(`${method} ${route}: ${response.status} ${await response.text()}`);
  const text = await response.text();
  return (text ? JSON.parse(text) : undefined) as T;
}

export async function workspace(): Promise<string> {
  return fs.mkdtemp(path.join(os.tmpdir(), 'rehearse-ws-'));
}

export interface JsonOutput {
  exitCode: number;
  verdict: string;
  bundle?: string;
  summary?: {
    status: string;
    verdict: string;
    checks: { id: string; verdict: string; reason: string }[];
    steps: { name: string; status: string; verdict: string; data?: Record<string, unknown> }[];
  };
  error?: { code: string; message: string };
}

export function parseJson(run: CliRun): JsonOutput {
  try {
    return JSON.parse(run.stdout) as JsonOutput;
  } catch {
    throw new Error(`stdout is not one JSON document:\n${run.stdout}\n--- stderr:\n${run.stderr}`);
  }
}

export const failing = (out: JsonOutput): string[] =>
  (out.summary?.checks ?? [])
    .filter((c) => c.verdict === 'fail')
    .map((c) => c.id)
    .sort();
