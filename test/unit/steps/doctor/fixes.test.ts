import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ConfigInput } from '../../../../src/config/schema.js';
import { createLimitFix, suggestLimitName, unpauseFix } from '../../../../src/prefect/fixes.js';
import { type DoctorCheck, runDoctor } from '../../../../src/steps/doctor/doctor.js';
import { createTestContext, HOTPASS_DIR } from '../../../support/context.js';
import {
  createFakeApi,
  type FakeRoutes,
  recorded,
  recordedDeployment,
  recordedRoutes,
} from '../../../support/fake-api.js';
import { createFakeRunner } from '../../../support/fake-runner.js';
import { LIMITED_BURST, recordedRuns } from '../../../support/recorded-runs.js';

const UV_VERSION = 'uv 0.13.9 (x86_64-unknown-linux-gnu)\n';
const pipShow = (version: string) => `Name: prefect\nVersion: ${version}\nRequired-by: hotpass\n`;
const WORKER = (JSON.parse(recorded('workers.json')) as { last_heartbeat_time: string }[])[0];
const NOW = new Date(Date.parse(WORKER?.last_heartbeat_time ?? '') + 10_000);
const DEPLOYMENT_ROUTE = 'GET /deployments/name/hotpass-backfill/hotpass-backfill';
const SCHEDULE_ID = '4aaadd0f-de42-4fc9-b3f8-c19e30412557';

let cwd: string;
beforeEach(async () => {
  cwd = await mkdtemp(path.join(tmpdir(), 'rehearse-doctor-fixes-'));
});
afterEach(async () => {
  await rm(cwd, { recursive: true, force: true });
});

function deploymentRoute(change: (d: Record<string, unknown>) => void): FakeRoutes {
  const deployment = recordedDeployment();
  change(deployment);
  return { [DEPLOYMENT_ROUTE]: { status: 200, text: JSON.stringify(deployment) } };
}

async function doctor(
  options: { routes?: FakeRoutes; client?: string; config?: ConfigInput; projectDir?: string } = {},
) {
  const runner = createFakeRunner([
    { match: ['uv', '--version'], result: { exitCode: 0, stdout: UV_VERSION, stderr: '' } },
    {
      match: ['uv', 'pip', 'show', 'prefect'],
      result: { exitCode: 0, stdout: pipShow(options.client ?? '3.9.1'), stderr: '' },
    },
  ]);
  const api = createFakeApi({
    ...recordedRoutes(),
    'POST /flow_runs/filter': { status: 200, text: '[]' },
    ...options.routes,
  });
  const ctx = createTestContext({
    runner,
    api,
    now: () => NOW,
    cwd,
    ...(options.config ? { config: options.config } : {}),
    ...(options.projectDir ? { projectDir: options.projectDir } : {}),
  });
  const checks = await runDoctor(ctx);
  const byId = (id: string): DoctorCheck => {
    const found = checks.find((c) => c.id === id);
    if (!found) throw new Error(`doctor ran no check ${id}: ${checks.map((c) => c.id).join(', ')}`);
    return found;
  };
  return { checks, byId, api };
}

const failed = (checks: DoctorCheck[]) => checks.filter((c) => c.verdict === 'fail').map((c) => c.id);

describe('doctor: a paused deployment is a blocker with a fix that leaves schedules off', () => {
  it('un-pauses through the API when no schedule is active, and says no run gets scheduled', async () => {
    const { checks, byId } = await doctor({
      routes: deploymentRoute((d) => {
        d.paused = true;
      }),
    });

    expect(failed(checks)).toEqual(['deployment.exists']);
    const check = byId('deployment.exists');
    expect(check.kind).toBe('blocker');
    expect(check.fix).toBe(
      `uv run prefect api PATCH /deployments/${String(recordedDeployment().id)} --data '{"paused": false}'`,
    );
    expect(check.reason).toContain('hotpass-backfill/hotpass-backfill is paused');
    expect(check.reason).toContain('leaves its schedules inactive');
    expect(check.reason).not.toMatch(/deployment resume|deployment pause /);
  });

  it('pauses an active schedule first, and says so, when un-pausing would start it', async () => {
    const routes = deploymentRoute((d) => {
      d.paused = true;
      (d.schedules as { active: boolean }[]).forEach((s) => {
        s.active = true;
      });
    });
    const { byId } = await doctor({ routes });

    const check = byId('deployment.exists');
    expect(check.fix).toBe(
      `uv run prefect deployment schedule pause hotpass-backfill/hotpass-backfill ${SCHEDULE_ID} && ` +
        `uv run prefect api PATCH /deployments/${String(recordedDeployment().id)} --data '{"paused": false}'`,
    );
    expect(check.reason).toContain("side effect: it first pauses the deployment's 1 active schedule(s)");
  });

  it('passes an active deployment', async () => {
    const { byId } = await doctor();
    expect(byId('deployment.exists').verdict).toBe('pass');
  });
});

describe('doctor: runs that cannot load their code', () => {
  const codeless = (d: Record<string, unknown>) => {
    d.pull_steps = null;
    d.path = null;
    d.storage_document_id = null;
  };

  it('fails a deployment with no pull steps, storage or path on a process pool, with the crash it would cause', async () => {
    const { checks, byId } = await doctor({ routes: deploymentRoute(codeless) });

    expect(failed(checks)).toEqual(['deployment.code']);
    const check = byId('deployment.code');
    expect(check.kind).toBe('blocker');
    expect(check.reason).toContain(
      'no pull steps, no storage and no path, and pool hotpass-backfill-pool is a process pool',
    );
    expect(check.reason).toContain('Downloading flow code from storage at None');
    expect(check.fix).toContain(`uv run prefect api PATCH /deployments/${String(recordedDeployment().id)} --data `);
    expect(check.fix).toContain(`"directory":"${HOTPASS_DIR}"`);
  });

  it.each([
    ['a storage block', { storage_document_id: '7d6c0b7e-1111-4222-8333-944455556666' }, 'from its storage block'],
    ['a path', { path: '/opt/hotpass' }, 'from /opt/hotpass'],
    [
      'a module entrypoint',
      { entrypoint: 'hotpass.orchestration.backfill_pipeline_flow' },
      'module hotpass.orchestration',
    ],
  ])('passes one with %s', async (_name, fields, reason) => {
    const { byId } = await doctor({
      routes: deploymentRoute((d) => {
        codeless(d);
        Object.assign(d, fields);
      }),
    });
    expect(byId('deployment.code')).toMatchObject({
      verdict: 'pass',
      reason: expect.stringContaining(reason) as string,
    });
  });
});

describe('doctor: versions, leftover rehearsals, the pool asked for, an unnameable key', () => {
  it("warns, naming both, when the project's prefect is not the server's, and still fails nothing", async () => {
    const { checks, byId } = await doctor({ client: '3.5.0' });

    expect(failed(checks)).toEqual([]);
    expect(byId('versions.match').verdict).toBe('inconclusive');
    expect(byId('versions.match').reason).toContain("the project's prefect is 3.5.0, the server's 3.9.1");
  });

  it('fails on live runs of an earlier rehearsal, naming them, with the cleanup command', async () => {
    const run = { ...recordedRuns(LIMITED_BURST)[0], state_type: 'SCHEDULED', state_name: 'AwaitingConcurrencySlot' };
    const { checks, byId } = await doctor({
      routes: { 'POST /flow_runs/filter': { status: 200, text: JSON.stringify([run]) } },
    });

    expect(failed(checks)).toEqual(['deployment.rehearsals']);
    const check = byId('deployment.rehearsals');
    expect(check.reason).toContain('(rehearse-20261126T012828Z)');
    expect(check.reason).toContain(`${run.name} (${run.id}, AwaitingConcurrencySlot)`);
    expect(check.fix).toMatch(/^rehearse cleanup --all /);
    expect(byId('deployment.idle').verdict).toBe('pass');
  });

  it("checks the pool --work-pool names, not the deployment's", async () => {
    const { byId, api } = await doctor({ config: { workPool: 'other-pool' } });

    expect(api.requests.map((r) => `${r.method} ${r.path}`)).toContain('GET /work_pools/other-pool');
    expect(byId('work_pool.ready').reason).toBe(
      'work pool other-pool does not exist (the deployment itself runs on ' +
        'hotpass-backfill-pool); fix: uv run prefect work-pool create other-pool --type process',
    );
  });

  it('tells to rename a key Prefect cannot name, and to create the renamed limit', async () => {
    const projectDir = path.join(cwd, 'project');
    await cp(path.join(HOTPASS_DIR, 'prefect'), path.join(projectDir, 'prefect'), { recursive: true });
    const manifest = path.join(projectDir, 'prefect/deployments/hotpass-backfill.yaml');
    await writeFile(
      manifest,
      (await readFile(manifest, 'utf8')).replace(
        'concurrency_key: hotpass-backfill',
        'concurrency_key: hotpass/backfill',
      ),
    );
    const { byId, api } = await doctor({ projectDir });

    const check = byId('global_limit.free');
    expect(check).toMatchObject({ verdict: 'fail', kind: 'finding' });
    // Both halves as commands: the limit under a name Prefect accepts, then the deployment's default key
    // through the API with its other defaults sent back as they are; the manifest is the operator's to rename.
    const fix = check.fix as string;
    expect(fix).toMatch(
      /^`uv run prefect gcl create hotpass-backfill --limit 2 && uv run prefect api PATCH \/deployments\/[0-9a-f-]{36} --data '/,
    );
    const body = JSON.parse(/--data '([^']+)'/.exec(fix)?.[1] ?? '{}') as { parameters: Record<string, unknown> };
    const recorded = recordedDeployment() as { id: string; parameters: Record<string, unknown> };
    expect(fix).toContain(`/deployments/${recorded.id} `);
    expect(body.parameters).toEqual({ ...recorded.parameters, concurrency_key: 'hotpass-backfill' });
    expect(fix).toContain(
      'rename concurrency_key to hotpass-backfill in the manifest, or the next deploy puts hotpass/backfill back',
    );
    expect(api.requests.map((r) => r.path)).not.toContain('/v2/concurrency_limits/hotpass%2Fbackfill');
  });
});

describe('the fix commands themselves', () => {
  it('suggests a name Prefect accepts for every refused character', () => {
    expect(suggestLimitName('hotpass/backfill')).toBe('hotpass-backfill');
    expect(suggestLimitName('a%b&c>d<e')).toBe('a-b-c-d-e');
    expect(suggestLimitName('/only/')).toBe('only');
    expect(createLimitFix(['uv', 'run', 'prefect'], 'hotpass-backfill', undefined)).toBe(
      'uv run prefect gcl create hotpass-backfill --limit N',
    );
  });

  it('quotes the JSON body so a shell passes it as one argument', () => {
    const fix = unpauseFix(['uv', 'run', 'prefect'], { id: 'abc', fullName: 'f/d', schedules: [] });
    expect(fix.command).toBe(`uv run prefect api PATCH /deployments/abc --data '{"paused": false}'`);
  });
});
