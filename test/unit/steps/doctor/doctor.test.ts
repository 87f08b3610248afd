import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createBundle } from '../../../../src/bundle/bundle.js';
import { newSummary } from '../../../../src/bundle/summary-io.js';
import { ConfigSchema } from '../../../../src/config/schema.js';
import { isLive } from '../../../../src/prefect/workers.js';
import { createRedactor } from '../../../../src/secrets/redact.js';
import { prepareSecrets, withSandboxAuth } from '../../../../src/session-secrets.js';
import { type DoctorCheck, preflightStep, runDoctor } from '../../../../src/steps/doctor/doctor.js';
import { doctorOutcome } from '../../../../src/steps/doctor/kinds.js';
import { runSteps } from '../../../../src/steps/runner.js';
import { createTestContext } from '../../../support/context.js';
import {
  createFakeApi,
  type FakeRoutes,
  NOT_FOUND,
  recorded,
  recordedRoutes,
  UNREACHABLE,
} from '../../../support/fake-api.js';
import { createFakeRunner } from '../../../support/fake-runner.js';
import { LIMITED_BURST, recordedRuns } from '../../../support/recorded-runs.js';

// What uv 0.13.9 printed in fixtures/hotpass: `uv --version` and `uv pip show prefect` (the Requires line shortened).
const UV_VERSION = 'uv 0.13.9 (x86_64-unknown-linux-gnu)\n';
const PIP_SHOW =
  'Name: prefect\nVersion: 3.9.1\nLocation: /work/main/fixtures/hotpass/.venv/lib/python3.11/site-packages\nRequires: aiosqlite, alembic, anyio, httpx, pydantic\nRequired-by: hotpass\n';

const WORKER = (JSON.parse(recorded('workers.json')) as Record<string, unknown>[])[0] as {
  last_heartbeat_time: string;
  heartbeat_interval_seconds: number;
  status: string;
  name: string;
};
const HEARTBEAT = Date.parse(WORKER.last_heartbeat_time);
const at = (msAfterHeartbeat: number): Date => new Date(HEARTBEAT + msAfterHeartbeat);
/** 14 s after the recorded worker's last heartbeat: it is live. */
const FRESH = at(14_000);
const GCL_ROUTE = 'GET /v2/concurrency_limits/hotpass-backfill';
const CLOUD_URL = 'https://api.prefect.cloud/api/accounts/0f3c/workspaces/7a1e';

const withJson = (text: string, change: (value: Record<string, unknown>) => void): string => {
  const value = JSON.parse(text) as Record<string, unknown>;
  change(value);
  return JSON.stringify(value);
};
const gcl = (change: (value: Record<string, unknown>) => void) => ({
  status: 200,
  text: withJson(recorded('gcl.json'), change),
});

/** The recorded server, with no run of the deployment under way. */
const healthyRoutes = (): FakeRoutes => ({
  ...recordedRoutes(),
  'POST /flow_runs/filter': { status: 200, text: '[]' },
});

let cwd: string;
beforeEach(async () => {
  cwd = await mkdtemp(path.join(tmpdir(), 'rehearse-doctor-'));
});
afterEach(async () => {
  await rm(cwd, { recursive: true, force: true });
});

function contextFor(
  options: { routes?: FakeRoutes; unreachable?: boolean; now?: Date; baseUrl?: string; env?: NodeJS.ProcessEnv } = {},
) {
  const runner = createFakeRunner([
    { match: ['uv', '--version'], result: { exitCode: 0, stdout: UV_VERSION, stderr: '' } },
    { match: ['uv', 'pip', 'show', 'prefect'], result: { exitCode: 0, stdout: PIP_SHOW, stderr: '' } },
  ]);
  const api = createFakeApi(options.routes ?? healthyRoutes(), {
    ...(options.baseUrl ? { baseUrl: options.baseUrl } : {}),
    ...(options.unreachable ? { fallback: UNREACHABLE } : {}),
  });
  const now = options.now ?? FRESH;
  const ctx = createTestContext({ runner, api, now: () => now, cwd, ...(options.env ? { env: options.env } : {}) });
  return { ctx, runner, api };
}

async function doctor(options: Parameters<typeof contextFor>[0] = {}) {
  const { ctx, runner, api } = contextFor(options);
  const checks = await runDoctor(ctx);
  const byId = (id: string): DoctorCheck | undefined => checks.find((c) => c.id === id);
  return { checks, byId, runner, api };
}

const failed = (checks: DoctorCheck[]) => checks.filter((c) => c.verdict === 'fail').map((c) => c.id);

describe('runDoctor against the recorded server', () => {
  it("passes every check on a healthy setup, reading prefect's version without starting Python", async () => {
    const { checks, byId, runner, api } = await doctor();

    expect(checks.map((c) => c.id)).toEqual([
      'tools.uv',
      'tools.prefect',
      'versions.match',
      'api.health',
      'api.auth',
      'deployment.exists',
      'deployment.code',
      'deployment.rehearsals',
      'deployment.idle',
      'work_pool.ready',
      'global_limit.free',
      'evidence_root.writable',
    ]);
    expect(byId('versions.match')).toMatchObject({ verdict: 'pass', reason: 'prefect 3.9.1 on both' });
    expect(byId('deployment.code')?.reason).toBe('1 pull step(s)');
    expect(failed(checks)).toEqual([]);
    expect(byId('tools.prefect')?.reason).toMatch(/^prefect 3\.9\.1 in /);
    expect(byId('api.health')?.reason).toBe('http://127.0.0.1:4200/api answers, server 3.9.1');
    expect(byId('work_pool.ready')?.reason).toBe('hotpass-backfill-pool: 1 live worker(s)');
    expect(byId('evidence_root.writable')?.reason).toBe(path.join(cwd, 'dist/staging/backfill'));
    expect(runner.calls.map((c) => [c.file, ...c.args].join(' '))).toEqual(['uv --version', 'uv pip show prefect']);
    // One GET /admin/version answers both whether our credentials pass and which version the server runs.
    expect(api.requests.filter((r) => r.path === '/admin/version')).toHaveLength(1);
  });

  it('fails api.auth naming the missing auth string when the server answers 401, and asks it nothing else', async () => {
    const unauthorized = { status: 401, text: '{"exception_message":"Unauthorized"}' };
    const { checks, byId } = await doctor({ routes: { ...healthyRoutes(), 'GET /admin/version': unauthorized } });
    expect(failed(checks)).toEqual(['api.auth']);
    expect(checks.map((c) => c.id)).not.toContain('deployment.exists');
    expect(byId('api.auth')?.reason).toContain('answered HTTP 401 to no credentials');
    expect(byId('api.auth')?.fix).toContain('PREFECT_API_AUTH_STRING');
  });

  it('names the auth string it sent when the server refuses it', async () => {
    const unauthorized = { status: 401, text: '{"exception_message":"Unauthorized"}' };
    const { byId } = await doctor({
      routes: { ...healthyRoutes(), 'GET /admin/version': unauthorized },
      env: { PREFECT_API_AUTH_STRING: 'admin:wrong' },
    });
    expect(byId('api.auth')?.reason).toContain('the basic-auth string in PREFECT_API_AUTH_STRING');
    expect(JSON.stringify(byId('api.auth'))).not.toContain('admin:wrong');
  });

  describe('names where the basic-auth string it sent came from', () => {
    const unauthorized = { status: 401, text: '{"exception_message":"Unauthorized"}' };
    /** The doctor as the session sets it up: credentials from the environment (and the sandbox), as rehearse reads them. */
    async function doctorWith(env: NodeJS.ProcessEnv, answer = unauthorized, sandboxAuth?: string) {
      const secrets = withSandboxAuth(prepareSecrets(env, ConfigSchema.parse({}), createRedactor([])), sandboxAuth);
      const { ctx } = contextFor({ env: secrets.env, routes: { ...healthyRoutes(), 'GET /admin/version': answer } });
      const withAuth = {
        ...ctx,
        prefect: { ...ctx.prefect, ...(secrets.authFrom ? { authFrom: secrets.authFrom } : {}) },
      };
      return (await runDoctor(withAuth)).find((c) => c.id === 'api.auth');
    }

    it("the URL's userinfo, not PREFECT_API_AUTH_STRING, which is unset", async () => {
      const env = { PREFECT_API_URL: 'http://admin:s3cret@127.0.0.1:4200/api' };
      const accepted = await doctorWith(env, { status: 200, text: '"3.9.1"' });
      expect(accepted?.reason).toBe('accepted the user:password in the userinfo of PREFECT_API_URL');
      const refused = await doctorWith(env);
      expect(refused?.reason).toContain('answered HTTP 401 to the user:password in the userinfo of PREFECT_API_URL');
      expect(refused?.fix).toContain(
        'the user:password in the userinfo of PREFECT_API_URL is not what the server expects',
      );
      expect(JSON.stringify(refused)).not.toContain('s3cret');
    });

    it('the variable, when that is where it came from', async () => {
      const accepted = await doctorWith({ PREFECT_API_AUTH_STRING: 'admin:s3cret' }, { status: 200, text: '"3.9.1"' });
      expect(accepted?.reason).toBe('accepted the basic-auth string in PREFECT_API_AUTH_STRING');
    });

    it("the sandbox's own string", async () => {
      const accepted = await doctorWith({}, { status: 200, text: '"3.9.1"' }, 'rehearse:sandbox-pass');
      expect(accepted?.reason).toBe("accepted the sandbox's own basic-auth string (sandbox up --auth)");
    });
  });

  describe('behind a proxy whose basic auth covers /api/health too (plain nginx auth_basic)', () => {
    // nginx's built-in 401 page (ngx_http_special_response.c), as it answers every path without the credentials.
    const NGINX_401 =
      '<html>\r\n<head><title>401 Authorization Required</title></head>\r\n<body>\r\n' +
      '<center><h1>401 Authorization Required</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n';
    const routes = { ...healthyRoutes(), 'GET /health': { status: 401, text: NGINX_401 } };

    it('fails api.auth naming the missing auth string, not api.health with the raw page and URL advice', async () => {
      const { checks, byId } = await doctor({ routes });
      expect(failed(checks)).toEqual(['api.auth']);
      const auth = byId('api.auth');
      expect(auth?.reason).toContain('/health answered HTTP 401 (an HTML page: 401 Authorization Required)');
      expect(auth?.reason).toContain('to no credentials (neither PREFECT_API_AUTH_STRING nor PREFECT_API_KEY is set)');
      expect(auth?.fix).toContain('export PREFECT_API_AUTH_STRING=<user:pass>');
      expect(JSON.stringify(checks)).not.toContain('<html>');
      expect(JSON.stringify(checks)).not.toContain('check PREFECT_API_URL');
    });

    it('names the wrong auth string by where it came from', async () => {
      const { byId } = await doctor({ routes, env: { PREFECT_API_AUTH_STRING: 'admin:wrong' } });
      expect(byId('api.auth')?.reason).toContain('to the basic-auth string in PREFECT_API_AUTH_STRING');
      expect(byId('api.auth')?.fix).toContain(
        'the basic-auth string in PREFECT_API_AUTH_STRING is not what the server expects',
      );
    });
  });

  it('fails work_pool.ready when the worker was last heard from long ago, with the command that starts one', async () => {
    const { checks, byId } = await doctor({ now: at(10 * 60_000) });

    expect(failed(checks)).toEqual(['work_pool.ready']);
    const check = byId('work_pool.ready');
    expect(check?.kind).toBe('blocker');
    expect(check?.reason).toContain('no live worker polls hotpass-backfill-pool (1 known, none heard from lately)');
    expect(check?.reason).toContain('fix: start one: uv run prefect worker start --pool hotpass-backfill-pool');
  });

  it('fails deployment.idle when an earlier run of the deployment is still running', async () => {
    const running = { ...recordedRuns(LIMITED_BURST)[0], state_type: 'RUNNING', state_name: 'Running', tags: [] };
    const { checks, byId } = await doctor({
      routes: { ...healthyRoutes(), 'POST /flow_runs/filter': { status: 200, text: JSON.stringify([running]) } },
    });

    expect(failed(checks)).toEqual(['deployment.idle']);
    expect(byId('deployment.idle')?.reason).toContain(
      `1 run(s) of hotpass-backfill/hotpass-backfill still Running: antique-eel (${running.id}, Running)`,
    );
    expect(byId('deployment.idle')?.fix).toBe(
      `wait for them, or cancel them: uv run prefect flow-run cancel ${running.id}`,
    );
  });

  describe('live runs of a rehearsal', () => {
    const live = { ...recordedRuns(LIMITED_BURST)[0], state_type: 'RUNNING', state_name: 'Running' };
    const routes = () => ({
      ...healthyRoutes(),
      'POST /flow_runs/filter': { status: 200, text: JSON.stringify([{ ...live, tags: ['rehearse', 'rehearse-X'] }]) },
    });
    /** The claim another rehearsal wrote, held by a process of this host: `pid` alive or gone. */
    async function claimHeld(api: ReturnType<typeof contextFor>['api'], pid: number) {
      const deployment = await api.request({
        method: 'GET',
        path: '/deployments/name/hotpass-backfill/hotpass-backfill',
        readOnly: true,
      });
      const { id } = JSON.parse(deployment.text) as { id: string };
      // Stamped now: claims are judged by the step's clock (the system's here), as the run step writes them.
      const stamp = new Date().toISOString();
      const value = { bundle: 'rehearse-X', host: hostname(), pid, claimedAt: stamp, renewedAt: stamp };
      await api.request({
        method: 'POST',
        path: '/variables/',
        body: { name: `rehearse-claim-${id}`, value },
        readOnly: false,
      });
    }

    it('refuses busy, naming the holder, when the rehearsal holding the deployment is alive: its runs are no leftovers', async () => {
      const { ctx, api } = contextFor({ routes: routes() });
      await claimHeld(api, process.pid);
      const refused = await runDoctor(ctx).catch((error: unknown) => error);
      expect(refused).toMatchObject({
        code: 'DEPLOYMENT_CLAIMED',
        message: 'another rehearsal holds hotpass-backfill/hotpass-backfill',
      });
    });

    it('calls them leftovers to clean up once their rehearsal is gone', async () => {
      const { ctx, api } = contextFor({ routes: routes() });
      // A pid no process of this host has: the holder died.
      await claimHeld(api, 2 ** 30);
      const checks = await runDoctor(ctx);
      expect(checks.find((c) => c.id === 'deployment.rehearsals')).toMatchObject({
        verdict: 'fail',
        fix: expect.stringContaining('rehearse cleanup --all'),
      });
    });
  });

  it('says the global limit was not checked, rather than dropping the check, when the manifest cannot be read', async () => {
    const { ctx } = contextFor();
    const checks = await runDoctor({ ...ctx, config: { ...ctx.config, manifest: 'no-such-manifest.yaml' } });
    expect(failed(checks)).toEqual([]);
    expect(checks.find((c) => c.id === 'global_limit.free')).toMatchObject({
      verdict: 'inconclusive',
      reason: expect.stringMatching(
        /^not checked: the manifest names the limit and cannot be read \(manifest not found: /,
      ),
    });
  });

  it('fails global_limit.free, blocking, when a slot of the global limit is held', async () => {
    const { checks, byId } = await doctor({
      routes: {
        ...healthyRoutes(),
        [GCL_ROUTE]: gcl((g) => {
          g.active_slots = 1;
        }),
      },
    });

    expect(failed(checks)).toEqual(['global_limit.free']);
    const check = byId('global_limit.free');
    expect(check?.kind).toBe('blocker');
    expect(check?.reason).toContain('1 of 2 slot(s) of hotpass-backfill are held');
    expect(check?.fix).toMatch(/^rehearse cleanup --all /);
  });

  it('fails global_limit.free when the limit is inactive, but not blocking: the rehearsal goes on to record it', async () => {
    const { checks, byId } = await doctor({
      routes: {
        ...healthyRoutes(),
        [GCL_ROUTE]: gcl((g) => {
          g.active = false;
          g.active_slots = 1;
        }),
      },
    });

    expect(failed(checks)).toEqual(['global_limit.free']);
    expect(byId('global_limit.free')?.kind).toBe('finding');
    expect(byId('global_limit.free')?.reason).toContain(
      'global concurrency limit hotpass-backfill is inactive; fix: uv run prefect gcl enable hotpass-backfill',
    );
  });

  it('fails api.health when the API does not answer, and asks the server nothing else', async () => {
    const { checks, byId, api } = await doctor({ routes: {}, unreachable: true });

    expect(checks.map((c) => c.id)).toEqual(['tools.uv', 'tools.prefect', 'api.health', 'evidence_root.writable']);
    expect(failed(checks)).toEqual(['api.health']);
    expect(byId('api.health')?.kind).toBe('blocker');
    expect(byId('api.health')?.reason).toContain('http://127.0.0.1:4200/api/health: ECONNREFUSED');
    expect(api.requests.map((r) => `${r.method} ${r.path}`)).toEqual(['GET /health']);
  });

  it('fails api.key for a Prefect Cloud URL without PREFECT_API_KEY, and not once the key is set', async () => {
    const routes = healthyRoutes();
    const without = await doctor({ routes, baseUrl: CLOUD_URL });
    expect(failed(without.checks)).toEqual(['api.key']);
    expect(without.byId('api.key')?.kind).toBe('blocker');
    expect(without.byId('api.key')?.reason).toContain(`${CLOUD_URL} is Prefect Cloud and PREFECT_API_KEY is not set`);

    const withKey = await doctor({
      routes,
      baseUrl: CLOUD_URL,
      env: { PREFECT_API_KEY: 'pnu_3f9a1c2b7d4e5f60718293a4' },
    });
    expect(failed(withKey.checks)).toEqual([]);
    expect(withKey.checks.map((c) => c.id)).not.toContain('api.key');
  });
});

async function preflight(routes: FakeRoutes, now = FRESH) {
  const { ctx } = contextFor({ routes, now });
  const bundle = await createBundle(path.join(cwd, 'bundles'), FRESH, (text) => text);
  const outcome = await runSteps(ctx, bundle, [preflightStep], newSummary(bundle, FRESH, {}), {
    wholeRehearsal: false,
  });
  return { ...outcome, ctx, dir: bundle.dir };
}

describe('preflight: only blocking failures stop the rehearsal', () => {
  it('goes on past an inactive global limit', async () => {
    const outcome = await preflight({
      ...healthyRoutes(),
      [GCL_ROUTE]: gcl((g) => {
        g.active = false;
      }),
    });
    expect(outcome.error).toBeUndefined();
  });

  it('stops before anything is triggered when a slot is held', async () => {
    const outcome = await preflight({
      ...healthyRoutes(),
      [GCL_ROUTE]: gcl((g) => {
        g.active_slots = 1;
      }),
    });
    expect(outcome.error?.code).toBe('COMMAND_FAILED');
    expect(outcome.error?.details).toEqual([
      expect.stringContaining('global limit exists, active and free: 1 of 2 slot(s)'),
    ]);
  });
});

describe('one rule: a blocker stops the rehearsal (exit 3), a finding is what it shows (exit 1)', () => {
  const limitMissing = (): FakeRoutes => ({ ...healthyRoutes(), [GCL_ROUTE]: NOT_FOUND });
  const LIMIT_TITLE = 'global limit exists, active and free';

  it('only the global limit missing: doctor exits 1, saying the rehearsal would run and show it', async () => {
    const { checks } = await doctor({ routes: limitMissing() });

    expect(failed(checks)).toEqual(['global_limit.free']);
    expect(doctorOutcome(checks)).toEqual({
      exitCode: 1,
      verdict: 'fail',
      line: `doctor: 1 of 12 checks failed; the rehearsal would run, and would show: ${LIMIT_TITLE}`,
    });
  });

  it('a missing deployment: doctor exits 3, saying the rehearsal would not run, and why', async () => {
    const routes = { ...healthyRoutes(), 'GET /deployments/name/hotpass-backfill/hotpass-backfill': NOT_FOUND };
    const { checks, byId } = await doctor({ routes });

    expect(byId('deployment.exists')).toMatchObject({ verdict: 'fail', kind: 'blocker' });
    const outcome = doctorOutcome(checks);
    expect(outcome.exitCode).toBe(3);
    expect(outcome.verdict).toBe('error');
    expect(outcome.line).toMatch(/; the rehearsal would not run: deployment exists and is not paused/);
  });

  it('only the global limit missing: one failed check, one verdict, on the terminal, in summary.json and the report', async () => {
    const outcome = await preflight(limitMissing());

    expect(outcome.error).toBeUndefined();
    expect(outcome.exitCode).toBe(1);
    const shown = outcome.ctx.reporter.events.flatMap((e) => (e.type === 'check' ? [e.check] : []));
    expect(failed(shown as DoctorCheck[])).toEqual(['global_limit.free']);
    const ended = outcome.ctx.reporter.events.flatMap((e) => (e.type === 'step-end' ? [e.record] : []));
    expect(ended.map((r) => [r.name, r.verdict])).toEqual([['preflight', 'fail']]);

    const summary = JSON.parse(await readFile(path.join(outcome.dir, 'summary.json'), 'utf8')) as {
      steps: { name: string; verdict: string; checks: { verdict: string }[] }[];
    };
    const step = summary.steps.find((s) => s.name === 'preflight');
    expect(step?.verdict).toBe('fail');
    expect(step?.checks.filter((c) => c.verdict === 'fail')).toHaveLength(1);

    const report = await readFile(path.join(outcome.dir, 'report.html'), 'utf8');
    expect(report).toContain(
      '<h3>preflight: doctor: tools, API, deployment, worker, global limit, evidence root <small>(ok, fail)</small></h3>',
    );
  });

  it('a finding beside a blocker: preflight stops, counting both failed checks as it printed them', async () => {
    const outcome = await preflight(limitMissing(), at(10 * 60_000));

    const shown = outcome.ctx.reporter.events.flatMap((e) => (e.type === 'check' ? [e.check] : []));
    expect(failed(shown as DoctorCheck[])).toEqual(['work_pool.ready', 'global_limit.free']);
    expect(outcome.exitCode).toBe(3);
    expect(outcome.error?.message).toBe(
      'preflight: 2 check(s) failed, 1 of them blocking the rehearsal, so nothing was triggered',
    );
    expect(outcome.error?.details).toEqual([
      expect.stringMatching(/^blocker: work pool ready with a live worker: /),
      expect.stringMatching(/^finding: global limit exists, active and free: /),
    ]);
  });
});

describe('isLive, for the recorded worker (heartbeat every 30 s)', () => {
  it.each([
    ['heard from just now', 0, {}, true],
    ['exactly three intervals ago', 90_000, {}, true],
    ['a millisecond past three intervals', 90_001, {}, false],
    ['heard from "in the future" (clock skew)', -5_000, {}, true],
    ['within its interval but OFFLINE', 1_000, { status: 'OFFLINE' }, false],
    ['never heard from', 0, { last_heartbeat_time: null }, false],
    ['with no interval recorded: 30 s assumed', 90_000, { heartbeat_interval_seconds: undefined }, true],
    ['with no interval recorded, past 90 s', 91_000, { heartbeat_interval_seconds: null }, false],
    ['with a 5 s interval, 16 s ago', 16_000, { heartbeat_interval_seconds: 5 }, false],
    ['with a 60 s interval, 170 s ago', 170_000, { heartbeat_interval_seconds: 60 }, true],
  ] as const)('%s', (_name, after, change, live) => {
    expect(isLive({ ...WORKER, ...change }, at(after))).toBe(live);
  });
});
