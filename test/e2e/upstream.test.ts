import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import fs from 'fs-extra';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { isAlive } from '../../src/process/daemon.js';
import { sandboxProcessEnv, sandboxWorkers } from '../../src/sandbox/state.js';
import { failing, parseJson } from './support.js';
import {
  copyUpstreamFixture,
  rehearseUpstream,
  startUpstreamSandbox,
  stopUpstreamSandbox,
  UPSTREAM_FIXTURE,
  upstreamApi,
  upstreamSandbox,
  upstreamUpMs,
} from './upstream-support.js';

interface Deployment {
  id: string;
  paused: boolean;
  work_pool_name: string;
  entrypoint: string;
  parameters: Record<string, unknown>;
  pull_steps: Record<string, { directory?: string }>[] | null;
  schedules: { active: boolean }[];
  global_concurrency_limit: { limit: number; active: boolean } | null;
  parameter_openapi_schema: { properties: Record<string, unknown>; required?: string[] };
}

const manifestFile = path.join(UPSTREAM_FIXTURE, 'prefect/deployments/hotpass-backfill.yaml');
const manifest = parse(fs.readFileSync(manifestFile, 'utf8')) as {
  parameters: Record<string, unknown>;
};
const deployment = (): Promise<Deployment> =>
  upstreamApi<Deployment>('GET', '/deployments/name/hotpass-backfill/hotpass-backfill');
const limitNames = async (): Promise<string[]> =>
  (await upstreamApi<{ name: string }[]>('POST', '/v2/concurrency_limits/filter', {})).map((l) => l.name);

describe('the sandbox hosting the upstream-shaped Hotpass fixture', () => {
  beforeAll(async () => {
    await startUpstreamSandbox(['--workers', '2']);
    console.info(`sandbox up --project-dir fixtures/hotpass-upstream took ${(upstreamUpMs / 1000).toFixed(1)} s`);
  });
  afterAll(async () => {
    const state = await upstreamSandbox();
    await stopUpstreamSandbox();
    // down stops every process up started: both workers and the server.
    const pids = [state.server.pid, ...(state.workers ?? []).map((w) => w.pid)];
    expect(pids).toHaveLength(3);
    expect(pids.filter(isAlive)).toEqual([]);
  });

  it("starts the requested number of process workers on the project's pool", async () => {
    const workers = await upstreamApi<{ status: string }[]>(
      'POST',
      '/work_pools/default-agent-pool/workers/filter',
      {},
    );
    expect(workers.filter((w) => w.status === 'ONLINE')).toHaveLength(2);
    expect((await upstreamSandbox()).workers).toHaveLength(2);
  });

  it("runs the project's own Prefect, 3.5.0, and status says which project and version", async () => {
    expect(await upstreamApi<string>('GET', '/admin/version')).toBe('3.5.0');
    const status = await rehearseUpstream(['sandbox', 'status', '--json'], { cwd: os.tmpdir() });
    expect(status.exitCode, status.stdout).toBe(0);
    const data = (JSON.parse(status.stdout) as { data: Record<string, unknown> }).data;
    expect(data).toMatchObject({ running: true, projectDir: UPSTREAM_FIXTURE, prefectVersion: '3.5.0' });
  });

  it("has the deployment its own deploy registers: paused, on its pool, with the manifest's parameters", async () => {
    const live = await deployment();
    expect(live.paused).toBe(true);
    expect(live.schedules.map((s) => s.active)).toEqual([true]);
    expect(live.work_pool_name).toBe('default-agent-pool');
    expect(live.global_concurrency_limit).toMatchObject({ limit: 2, active: true });
    expect(live.parameters).toEqual(manifest.parameters);
    expect(live.parameters).toMatchObject({
      concurrency_key: 'hotpass/backfill',
      concurrency_limit: 2,
      parameters: { pipeline: { backfill: true } },
    });
    expect(Object.keys(live.parameter_openapi_schema.properties)).toEqual([
      'runs',
      'archive_root',
      'restore_root',
      'archive_pattern',
      'base_config',
      'parameters',
      'telemetry',
      'concurrency_limit',
      'concurrency_key',
    ]);
    expect(live.parameter_openapi_schema.required).toEqual(['runs', 'archive_root', 'restore_root']);
    // The sandbox's registration: the flow runs from the checkout as it is, through a pull step into it.
    const pull = { 'prefect.deployments.steps.set_working_directory': { directory: UPSTREAM_FIXTURE } };
    expect(live.pull_steps).toEqual([pull]);
    expect(live.entrypoint).toBe('src/hotpass/orchestration.py:backfill_pipeline_flow');
    // Only what the project's deploy creates: the deployment's own limit, never one for the key.
    expect(await limitNames()).toEqual([`deployment:${live.id}`]);
  });

  it("registers as the real project does: its own deploy, run without the sandbox's registration, fails as upstream's does", async () => {
    const source = await fs.readFile(path.join(UPSTREAM_FIXTURE, 'src/hotpass/deployments.py'), 'utf8');
    expect(source).not.toContain('from_source');
    const state = await upstreamSandbox();
    const deploy = await execa(
      'uv',
      ['run', 'hotpass', 'deploy', '--flow', 'backfill', '--manifest-dir', 'prefect/deployments'],
      {
        cwd: UPSTREAM_FIXTURE,
        env: { ...process.env, ...sandboxProcessEnv(state) },
        reject: false,
        all: true,
        timeout: 120_000,
      },
    );
    expect(deploy.exitCode, deploy.all).toBe(1);
    expect(deploy.all).toContain('Deployment failed: Either an image or remote storage location must be provided');
  });

  it('rehearse inspect reads the manifest and fails global_limit for the unnameable key', async () => {
    const cwd = await fs.mkdtemp(path.join(os.tmpdir(), 'rehearse-ws-upstream-'));
    const run = await rehearseUpstream(['inspect', '--project-dir', UPSTREAM_FIXTURE, '--json'], { cwd });
    const out = parseJson(run);
    expect(run.exitCode, run.stderr).toBe(1);
    expect(failing(out)).toContain('global_limit');
    const check = out.summary?.checks.find((c) => c.id === 'global_limit');
    expect(check?.reason).toContain('hotpass/backfill');
    expect(out.summary?.checks.find((c) => c.id === 'parameters.pipeline.backfill')?.verdict).toBe('pass');
    expect(await limitNames()).not.toContain('hotpass/backfill');
  });

  it('runs a flow run of the paused deployment, each runs entry skipping the unnameable limit', async () => {
    const live = await deployment();
    const runs = [
      { run_date: '2024-01-01', version: '1' },
      { run_date: '2024-01-02', version: '1' },
    ];
    const route = `/deployments/${live.id}/create_flow_run`;
    const created = await upstreamApi<{ id: string }>('POST', route, { parameters: { runs } });
    let state = '';
    for (let i = 0; i < 300 && !['Completed', 'Failed', 'Crashed'].includes(state); i += 1) {
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      state = (await upstreamApi<{ state_name: string }>('GET', `/flow_runs/${created.id}`)).state_name;
    }
    expect(state).toBe('Completed');
    // Either of the two workers may have run it: read every worker's log.
    const logs = await Promise.all(
      sandboxWorkers(await upstreamSandbox()).map((w) => fs.readFile(w.log ?? '', 'utf8')),
    );
    const log = logs.join('\n');
    const skipped = /Concurrency limits \['hotpass\/backfill'\] do not exist - skipping acquisition/g;
    expect(log.match(skipped)).toHaveLength(2);
    expect((await deployment()).paused).toBe(true);
  });

  describe('rehearsed as an operator would: init, doctor and its fixes, backfill, the rename advice', () => {
    let project: string;
    const EVIDENCE = [
      'render.log',
      'rendered/specs.json',
      'deployment.json',
      'hotpass-e2e-staging.log',
      'metadata.json',
      'state-history.json',
      'work-pool.json',
      'hotpass-e2e-staging.png',
      'notes.md',
      'summary.json',
      'SHA256SUMS',
    ];
    interface DoctorCheck {
      id: string;
      verdict: string;
      reason: string;
      fix?: string;
    }
    const doctor = async (): Promise<{ exitCode: number; checks: DoctorCheck[] }> => {
      const run = await rehearseUpstream(['doctor', '--sandbox', '--json'], { cwd: project });
      return {
        exitCode: run.exitCode,
        checks: (JSON.parse(run.stdout) as { data: { checks: DoctorCheck[] } }).data.checks,
      };
    };
    /** A printed fix, run as printed, in the project with the sandbox's environment. */
    const runFix = async (fix: string): Promise<void> => {
      const env = { ...process.env, ...sandboxProcessEnv(await upstreamSandbox()) };
      const result = await execa('sh', ['-c', fix], { cwd: project, env, reject: false, stdin: 'ignore' });
      expect(result.exitCode, `${fix}\n${result.stdout}\n${result.stderr}`).toBe(0);
    };
    const backfill = async () => {
      const run = await rehearseUpstream(['backfill', '--sandbox', '--json', '--until', '2024-01-02'], {
        cwd: project,
      });
      return { run, out: parseJson(run) };
    };

    beforeAll(async () => {
      project = await copyUpstreamFixture();
    });

    it('init writes a config that loads: the live deployment, its pool, the runs window, the key left undecided', async () => {
      const run = await rehearseUpstream(['init', '--sandbox'], { cwd: project });
      expect(run.exitCode, run.stdout + run.stderr).toBe(0);
      const config = parse(await fs.readFile(path.join(project, 'rehearse.config.yaml'), 'utf8')) as Record<
        string,
        unknown
      >;
      expect(config).toMatchObject({
        deployment: 'hotpass-backfill/hotpass-backfill',
        workPool: 'default-agent-pool',
        run: { window: { mode: 'runs' } },
      });
      expect(run.stdout + run.stderr).toContain('hotpass/backfill');
    });

    it('doctor names the paused deployment; its fix un-pauses it and turns no schedule on', async () => {
      const before = await doctor();
      expect(before.exitCode).toBe(3);
      const paused = before.checks.find((c) => c.id === 'deployment.exists');
      expect(paused).toMatchObject({ verdict: 'fail' });
      expect(paused?.reason).toContain('paused');
      await runFix(paused?.fix ?? '');
      const after = await doctor();
      expect(after.checks.find((c) => c.id === 'deployment.exists')?.verdict).toBe('pass');
      const live = await deployment();
      expect(live.paused).toBe(false);
      expect(live.schedules.map((s) => s.active)).toEqual([false]);
      const scheduled = await upstreamApi<unknown[]>('POST', '/flow_runs/filter', {
        flow_runs: { deployment_id: { any_: [live.id] }, state: { type: { any_: ['SCHEDULED'] } } },
      });
      expect(scheduled).toEqual([]);
      // What remains is the key: a guardrail failure for the rehearsal to record, with the rename advice.
      const key = after.checks.find((c) => c.id === 'global_limit.free');
      expect(key?.reason).toContain('hotpass/backfill');
      // A finding, not a blocker: the rehearsal would run and show it.
      expect(after.exitCode).toBe(1);
      expect(key?.fix).toContain('rename concurrency_key to hotpass-backfill in the manifest');
    });

    it('backfill completes with every evidence file, runs carrying runs entries, and fails global_limit', async () => {
      const { run, out } = await backfill();
      expect(run.exitCode, run.stderr).toBe(1);
      expect(out.summary?.status).toBe('complete');
      expect(failing(out)).toEqual(['global_limit', 'global_limit.free']);
      const bundle = path.join(project, out.bundle ?? '');
      for (const file of EVIDENCE) expect(await fs.pathExists(path.join(bundle, file)), file).toBe(true);
      const ids = out.summary?.steps.find((s) => s.name === 'run')?.data?.flowRunIds as string[];
      expect(ids.length).toBeGreaterThan(1);
      const runs = await upstreamApi<{ parameters: Record<string, unknown> }[]>('POST', '/flow_runs/filter', {
        flow_runs: { id: { any_: ids } },
      });
      for (const flowRun of runs) {
        expect(flowRun.parameters.runs).toEqual([
          { run_date: '2024-01-01', version: 'latest' },
          { run_date: '2024-01-02', version: 'latest' },
        ]);
        expect(Object.keys(flowRun.parameters)).not.toContain('since');
        expect(Object.keys(flowRun.parameters)).not.toContain('until');
      }
    });

    it('after following the advice (its command as printed, the manifest renamed) the rehearsal passes', async () => {
      const advice = (await doctor()).checks.find((c) => c.id === 'global_limit.free');
      // The printed command does both server halves: the limit under the new name, the deployment's default key.
      const command = /^`([^`]+)`/.exec(advice?.fix ?? '')?.[1] ?? '';
      expect(command).toMatch(/^uv run prefect gcl create hotpass-backfill --limit 2 && uv run prefect api PATCH /);
      const before = await deployment();
      await runFix(command);
      const live = await deployment();
      expect(live.parameters).toEqual({ ...before.parameters, concurrency_key: 'hotpass-backfill' });
      expect(live.paused).toBe(before.paused);
      // The operator's half: the manifest, so the next deploy keeps the new key.
      const manifest = path.join(project, 'prefect/deployments/hotpass-backfill.yaml');
      const text = await fs.readFile(manifest, 'utf8');
      await fs.writeFile(
        manifest,
        text.replace('concurrency_key: hotpass/backfill', 'concurrency_key: hotpass-backfill'),
      );

      const { run, out } = await backfill();
      expect(run.exitCode, `${run.stderr}\n${JSON.stringify(out.summary?.checks, null, 1)}`).toBe(0);
      expect(out.summary?.verdict).toBe('pass');
      const global = out.summary?.checks.find((c) => c.id === 'concurrency.global_limit');
      expect(global?.verdict).toBe('pass');
    });
  });
});
