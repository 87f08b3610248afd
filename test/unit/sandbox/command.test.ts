import os from 'node:os';
import path from 'node:path';
import fs from 'fs-extra';
import { afterEach, describe, expect, it } from 'vitest';
import { parseWorkerCount, sandboxEnvCommand, sandboxStatusCommand } from '../../../src/commands/sandbox.js';
import type { Reporter } from '../../../src/reporters/events.js';
import { type SandboxState, writeSandboxState } from '../../../src/sandbox/state.js';

const reporter: Reporter = { emit: () => undefined, close: async () => undefined };
const temps: string[] = [];
afterEach(async () => {
  await Promise.all(temps.splice(0).map((dir) => fs.remove(dir)));
});

async function recordedState(): Promise<SandboxState> {
  const stateDir = await fs.mkdtemp(path.join(os.tmpdir(), 'rehearse-sandbox-cmd-'));
  temps.push(stateDir);
  // Port 9 (discard) on 127.0.0.1 answers nothing, and pid 2147483646 is not a live process.
  const state: SandboxState = {
    version: 1,
    apiUrl: 'http://127.0.0.1:9/api',
    uiUrl: 'http://127.0.0.1:9',
    port: 9,
    stateDir,
    prefectHome: path.join(stateDir, 'home'),
    projectDir: '/checkouts/hotpass-upstream',
    startedAt: '2026-11-27T00:00:00Z',
    server: { pid: 2147483646, log: 'server.log' },
    workers: [
      { pid: 2147483645, log: 'w1' },
      { pid: 2147483644, log: 'w2' },
    ],
    worker: { pid: 2147483645, log: 'w1' },
    prefectVersion: '3.5.0',
    projectEnv: { HOTPASS_ENABLE_PREFECT_RUNTIME: '1' },
    deployCommand: ['uv', 'run', 'hotpass', 'deploy', '--flow', 'backfill', '--manifest-dir', 'prefect/deployments'],
  };
  await writeSandboxState(state);
  return state;
}

describe('sandbox commands', () => {
  it('status names the hosted project, its Prefect version and every worker', async () => {
    const state = await recordedState();
    const result = await sandboxStatusCommand({ stateDir: state.stateDir, reporter });
    expect(result.exitCode).toBe(3);
    const text = (result.lines ?? []).join('\n');
    expect(text).toContain('project /checkouts/hotpass-upstream (Prefect 3.5.0)');
    expect(text).toContain('worker  pid 2147483645, 2147483644 NOT running');
  });

  it("env exports the project's own switches beside the API URL", async () => {
    const state = await recordedState();
    const result = await sandboxEnvCommand({ stateDir: state.stateDir, reporter });
    expect(result.lines).toContain('export HOTPASS_ENABLE_PREFECT_RUNTIME="1"');
    expect(result.lines).toContain('export PREFECT_API_URL="http://127.0.0.1:9/api"');
  });

  it('--workers takes a whole number from 1 to 8', () => {
    expect(parseWorkerCount(undefined)).toBeUndefined();
    expect(parseWorkerCount('3')).toBe(3);
    for (const bad of ['0', '9', '1.5', 'two']) {
      expect(() => parseWorkerCount(bad)).toThrow(expect.objectContaining({ code: 'USAGE' }));
    }
  });
});
