import os from 'node:os';
import path from 'node:path';
import fs from 'fs-extra';
import { afterEach, describe, expect, it } from 'vitest';
import type { Clock } from '../../../src/context.js';
import { RehearseError } from '../../../src/errors.js';
import type { ExpectedGuardrails } from '../../../src/guardrails/manifest.js';
import { applyGuardrails, sandboxUp } from '../../../src/sandbox/lifecycle.js';
import {
  DEPLOY_FROM_CHECKOUT,
  describeSandboxProject,
  runbookFixtureProject,
  upstreamShapedProject,
} from '../../../src/sandbox/project.js';
import { FIXTURE_PROJECT, readSandboxState, type SandboxState } from '../../../src/sandbox/state.js';
import { sleep } from '../../../src/util/sleep.js';
import { argvOf, createFakeRunner } from '../../support/fake-runner.js';

const UPSTREAM = path.resolve(FIXTURE_PROJECT, '..', 'hotpass-upstream');
const temps: string[] = [];
const tempDir = async (): Promise<string> => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'rehearse-sandbox-unit-'));
  temps.push(dir);
  return dir;
};
afterEach(async () => {
  await Promise.all(temps.splice(0).map((dir) => fs.remove(dir)));
});

/** A project the sandbox accepts, whose `uv` is a tiny program that prints a traceback and exits. */
async function projectWithDyingServer(): Promise<{ projectDir: string; uv: string }> {
  const projectDir = await tempDir();
  await fs.outputFile(path.join(projectDir, 'pyproject.toml'), '[project]\nname = "dying"\n');
  await fs.copy(path.join(UPSTREAM, 'prefect'), path.join(projectDir, 'prefect'));
  await fs.ensureDir(path.join(projectDir, '.venv'));
  const uv = path.join(projectDir, 'fake-uv');
  await fs.outputFile(
    uv,
    [
      '#!/bin/sh',
      'echo "Traceback (most recent call last):"',
      'echo "  File \\"server.py\\", line 1, in <module>"',
      'echo "ModuleNotFoundError: No module named \'importlib_metadata\'"',
      'exit 1',
    ].join('\n'),
    { mode: 0o755 },
  );
  return { projectDir, uv };
}

describe('sandboxUp with a server that dies at start', () => {
  it('fails when the server exits, not at the health timeout, quoting the cause from server.log, and leaves nothing running', async () => {
    const { projectDir, uv } = await projectWithDyingServer();
    const stateDir = await tempDir();
    const version = { exitCode: 0, stdout: 'uv 0.13.9', stderr: '' };
    const runner = createFakeRunner([
      { match: [uv, '--version'], result: version },
      { match: [uv, 'sync', '--locked', '--check'], result: { exitCode: 0, stdout: '', stderr: '' } },
    ]);
    // Time stands still for the health timeout, so only the server's exit can end the wait.
    const stopped: Clock = { now: () => 0, sleep: (_ms, signal) => sleep(20, signal) };
    const project = describeSandboxProject(projectDir);
    const error = await sandboxUp({ stateDir, runner, uv, project, healthTimeoutMs: 1, clock: stopped }).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(RehearseError);
    const failure = error as RehearseError;
    expect(failure.code).toBe('SANDBOX_FAILED');
    expect(failure.message).toBe(
      "the Prefect server exited while starting: ModuleNotFoundError: No module named 'importlib_metadata'",
    );
    expect(failure.details.at(-1)).toContain('importlib_metadata');
    expect(failure.hint).toContain(path.join(stateDir, 'server.log'));
    expect(await readSandboxState(stateDir)).toBeUndefined();
    expect(runner.calls.map(argvOf)).toEqual([
      [uv, '--version'],
      [uv, 'sync', '--locked', '--check'],
    ]);
  });

  it('refuses a directory that is not a project before starting anything', async () => {
    const stateDir = await tempDir();
    const empty = await tempDir();
    const runner = createFakeRunner([]);
    await expect(sandboxUp({ stateDir, runner, project: describeSandboxProject(empty) })).rejects.toMatchObject({
      code: 'USAGE',
      message: expect.stringContaining('hotpass-backfill.yaml'),
    });
    expect(runner.calls).toEqual([]);
  });
});

describe('describeSandboxProject', () => {
  it('hosts the runbook fixture by default and an upstream-shaped checkout with its own deploy and env', () => {
    expect(describeSandboxProject(undefined)).toEqual(runbookFixtureProject());
    expect(describeSandboxProject(FIXTURE_PROJECT, '/elsewhere')).toEqual(runbookFixtureProject());
    const upstream = describeSandboxProject('fixtures/hotpass-upstream', path.resolve(FIXTURE_PROJECT, '..', '..'));
    expect(upstream).toEqual(upstreamShapedProject(UPSTREAM));
    expect(upstream.deployArgs).toEqual([
      'hotpass',
      'deploy',
      '--flow',
      'backfill',
      '--manifest-dir',
      'prefect/deployments',
    ]);
    expect(upstream.env).toEqual({ HOTPASS_ENABLE_PREFECT_RUNTIME: '1' });
  });
});

describe('applyGuardrails', () => {
  const state: SandboxState = {
    version: 1,
    apiUrl: 'http://127.0.0.1:9/api',
    uiUrl: 'http://127.0.0.1:9',
    port: 9,
    stateDir: '/tmp/s',
    prefectHome: '/tmp/s/home',
    projectDir: UPSTREAM,
    startedAt: '2026-11-27T00:00:00Z',
    server: { pid: 1, log: 'l' },
    projectEnv: { HOTPASS_ENABLE_PREFECT_RUNTIME: '1' },
  };
  const expected: ExpectedGuardrails = {
    source: 'prefect/deployments/hotpass-backfill.yaml',
    deploymentName: 'hotpass-backfill',
    workPool: 'default-agent-pool',
    deploymentLimit: 2,
    collisionStrategy: 'ENQUEUE',
    concurrencyKey: 'hotpass/backfill',
    keyLimit: 2,
    backfill: true,
    scheduleActive: false,
    parameters: {},
  };
  const ok = { exitCode: 0, stdout: '', stderr: '' };
  const failedDeploy = { exitCode: 1, stdout: 'Deployment failed: no pool', stderr: '' };

  it('creates only the pool for a hosted project, then runs its own deploy with its env, storage at the checkout and the pool', async () => {
    const runner = createFakeRunner([{ match: ['uv', 'run'], result: ok }]);
    await applyGuardrails(state, runner, expected, upstreamShapedProject(UPSTREAM));
    expect(runner.calls.map((c) => c.args.join(' '))).toEqual([
      'run prefect work-pool create default-agent-pool --type process --overwrite',
      `run python ${DEPLOY_FROM_CHECKOUT} hotpass deploy --flow backfill --manifest-dir prefect/deployments`,
    ]);
    expect(runner.calls.every((c) => c.cwd === UPSTREAM && c.env?.HOTPASS_ENABLE_PREFECT_RUNTIME === '1')).toBe(true);
    // Upstream's deploy names no pool when it hands its deployments to Prefect.
    expect(runner.calls[1]?.env?.PREFECT_DEFAULT_WORK_POOL_NAME).toBe('default-agent-pool');
    expect(await fs.pathExists(DEPLOY_FROM_CHECKOUT)).toBe(true);
  });

  it("runs the runbook fixture's deploy as it is: it registers with storage of its own", async () => {
    const runner = createFakeRunner([{ match: ['uv', 'run'], result: ok }]);
    await applyGuardrails({ ...state, projectDir: FIXTURE_PROJECT }, runner, expected, runbookFixtureProject());
    const deploy = runner.calls.find((c) => c.args.includes('deploy'));
    expect(deploy?.args).toEqual([
      'run',
      'hotpass',
      'deploy',
      '--manifest-dir',
      'prefect/staging',
      '--flow',
      'backfill',
    ]);
    expect(deploy?.env?.PREFECT_DEFAULT_WORK_POOL_NAME).toBeUndefined();
  });

  it('never creates a global limit for a key Prefect cannot name, even for the runbook fixture', async () => {
    const runner = createFakeRunner([{ match: ['uv', 'run'], result: ok }]);
    await applyGuardrails(state, runner, expected, runbookFixtureProject());
    const run = runner.calls.map((c) => c.args.join(' '));
    expect(run).toContain('run prefect work-pool set-concurrency-limit default-agent-pool 2');
    expect(run.some((args) => args.includes('gcl'))).toBe(false);
  });

  it('reports a failing deploy with its output', async () => {
    const runner = createFakeRunner([
      { match: (c) => c.args.includes('deploy'), result: failedDeploy },
      { match: ['uv', 'run'], result: ok },
    ]);
    await expect(applyGuardrails(state, runner, expected, upstreamShapedProject(UPSTREAM))).rejects.toMatchObject({
      code: 'SANDBOX_FAILED',
      details: ['Deployment failed: no pool'],
    });
  });
});
