import path from 'node:path';
import { execa } from 'execa';
import fs from 'fs-extra';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sandboxProcessEnv } from '../../src/sandbox/state.js';
import { api, prefect, rehearse, repo, sandbox, workspace } from './support.js';

/** Every fix doctor prints is run here exactly as printed, and the check it names must pass afterwards. */

interface DoctorCheck {
  id: string;
  verdict: string;
  reason: string;
  fix?: string;
}
interface Schedule {
  id: string;
  active: boolean;
}
interface Deployment {
  id: string;
  paused: boolean;
  updated: string;
  schedules: Schedule[];
}

const DEPLOYMENT = 'hotpass-backfill/hotpass-backfill';
const LIMIT = 'hotpass-backfill';
const readDeployment = () => api<Deployment>('GET', `/deployments/name/${DEPLOYMENT}`);

async function doctor(): Promise<{ exitCode: number; checks: DoctorCheck[] }> {
  const run = await rehearse(['doctor', '--sandbox', '--json'], { cwd: await workspace() });
  const parsed = JSON.parse(run.stdout) as { data: { checks: DoctorCheck[] } };
  return { exitCode: run.exitCode, checks: parsed.data.checks };
}

const checkOf = (checks: DoctorCheck[], id: string): DoctorCheck => {
  const found = checks.find((c) => c.id === id);
  if (!found) throw new Error(`doctor ran no check ${id}`);
  return found;
};

/** The fix as an operator runs it: in the project, with the sandbox's environment (`rehearse sandbox env`). */
async function runFix(fix: string | undefined): Promise<void> {
  if (!fix) throw new Error('the check printed no fix');
  const state = await sandbox();
  const result = await execa('sh', ['-c', fix], {
    cwd: state.projectDir,
    env: { ...process.env, ...sandboxProcessEnv(state) },
    reject: false,
    stdin: 'ignore',
  });
  expect(result.exitCode, `${fix}\n${result.stdout}\n${result.stderr}`).toBe(0);
}

async function scheduledRuns(deploymentId: string): Promise<string[]> {
  const runs = await api<{ id: string }[]>('POST', '/flow_runs/filter', {
    flow_runs: { deployment_id: { any_: [deploymentId] }, state: { type: { any_: ['SCHEDULED'] } } },
  });
  return runs.map((r) => r.id);
}

async function deleteScheduledRuns(deploymentId: string): Promise<void> {
  for (const id of await scheduledRuns(deploymentId)) await api('DELETE', `/flow_runs/${id}`);
}

/** Long enough for the server's scheduler (it looks at recently updated deployments every few seconds). */
const SCHEDULER_WAIT_MS = 15_000;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

let original: Deployment;
beforeAll(async () => {
  original = await readDeployment();
});
afterAll(async () => {
  // Leave the sandbox as it was: its schedules and pause flag, and no run scheduled by these tests.
  for (const schedule of original.schedules) {
    await api('PATCH', `/deployments/${original.id}/schedules/${schedule.id}`, { active: schedule.active });
  }
  await api('PATCH', `/deployments/${original.id}`, { paused: original.paused });
  await deleteScheduledRuns(original.id);
});

describe('a paused deployment', () => {
  it('is a blocker whose fix un-pauses it and turns no schedule on', async () => {
    expect(original.schedules.every((s) => !s.active)).toBe(true);
    await api('PATCH', `/deployments/${original.id}`, { paused: true });

    const before = await doctor();
    expect(before.exitCode).toBe(3);
    const check = checkOf(before.checks, 'deployment.exists');
    expect(check.verdict).toBe('fail');
    expect(check.reason).toContain(`${DEPLOYMENT} is paused`);
    expect(check.fix).toBe(`uv run prefect api PATCH /deployments/${original.id} --data '{"paused": false}'`);

    await runFix(check.fix);
    await sleep(SCHEDULER_WAIT_MS);
    const after = await readDeployment();
    expect(after.paused).toBe(false);
    expect(after.schedules.map((s) => s.active)).toEqual(original.schedules.map(() => false));
    expect(await scheduledRuns(original.id)).toEqual([]);
    expect(checkOf((await doctor()).checks, 'deployment.exists').verdict).toBe('pass');
  });

  it('with an active schedule (as the upstream deploy leaves it): the fix pauses the schedule first, and no run gets scheduled', async () => {
    const schedule = original.schedules[0];
    if (!schedule) throw new Error('the sandbox deployment has no schedule');
    await api('PATCH', `/deployments/${original.id}`, { paused: true });
    await api('PATCH', `/deployments/${original.id}/schedules/${schedule.id}`, { active: true });

    const check = checkOf((await doctor()).checks, 'deployment.exists');
    expect(check.reason).toContain('side effect: it first pauses');
    expect(check.fix).toContain(`uv run prefect deployment schedule pause ${DEPLOYMENT} ${schedule.id} && `);

    await runFix(check.fix);
    await sleep(SCHEDULER_WAIT_MS);
    const after = await readDeployment();
    expect(after.paused).toBe(false);
    expect(after.schedules.every((s) => !s.active)).toBe(true);
    expect(await scheduledRuns(original.id)).toEqual([]);
    expect(checkOf((await doctor()).checks, 'deployment.exists').verdict).toBe('pass');
  });

  it('doctor --fix --yes applies that fix itself, checks again and passes, and no run gets scheduled', async () => {
    const schedule = original.schedules[0];
    if (!schedule) throw new Error('the sandbox deployment has no schedule');
    await api('PATCH', `/deployments/${original.id}`, { paused: true });
    await api('PATCH', `/deployments/${original.id}/schedules/${schedule.id}`, { active: true });

    const run = await rehearse(['doctor', '--sandbox', '--json', '--fix', '--yes'], { cwd: await workspace() });
    const out = JSON.parse(run.stdout) as {
      exitCode: number;
      data: { checks: DoctorCheck[]; fixes: { check: string; command: string; outcome: string }[] };
    };
    expect(out.data.fixes, run.stdout).toEqual([
      {
        check: 'deployment.exists',
        outcome: 'applied',
        exitCode: 0,
        command: expect.stringContaining(`uv run prefect deployment schedule pause ${DEPLOYMENT} ${schedule.id} && `),
      },
    ]);
    // The checks after the fix: nothing failed.
    expect(run.exitCode, run.stdout).toBe(0);
    expect(checkOf(out.data.checks, 'deployment.exists').verdict).toBe('pass');
    await sleep(SCHEDULER_WAIT_MS);
    const after = await readDeployment();
    expect(after.paused).toBe(false);
    expect(after.schedules.every((s) => !s.active)).toBe(true);
    expect(await scheduledRuns(original.id)).toEqual([]);
  });

  it('control: un-pausing alone, with an active schedule, does get runs scheduled (what the fix avoids)', async () => {
    const schedule = original.schedules[0];
    if (!schedule) throw new Error('the sandbox deployment has no schedule');
    await api('PATCH', `/deployments/${original.id}`, { paused: true });
    await api('PATCH', `/deployments/${original.id}/schedules/${schedule.id}`, { active: true });
    try {
      await api('PATCH', `/deployments/${original.id}`, { paused: false });
      // The PATCH changes only the flag: the schedule stays as it was, active.
      expect((await readDeployment()).schedules.find((s) => s.id === schedule.id)?.active).toBe(true);
      let scheduled: string[] = [];
      for (let waited = 0; waited < 4 * SCHEDULER_WAIT_MS && scheduled.length === 0; waited += 2000) {
        await sleep(2000);
        scheduled = await scheduledRuns(original.id);
      }
      expect(scheduled.length).toBeGreaterThan(0);
    } finally {
      await api('PATCH', `/deployments/${original.id}/schedules/${schedule.id}`, { active: schedule.active });
      await deleteScheduledRuns(original.id);
    }
  });
});

describe('the global limit of the concurrency key', () => {
  async function restoreLimit(): Promise<void> {
    const exists = await api<unknown[]>('POST', '/v2/concurrency_limits/filter', {}).then((all) =>
      (all as { name: string }[]).some((l) => l.name === LIMIT),
    );
    if (!exists) await prefect(['gcl', 'create', LIMIT, '--limit', '2']);
    await prefect(['gcl', 'update', LIMIT, '--enable', '--limit', '2']);
  }

  it('disabled: the printed fix enables it and the check passes', async () => {
    await prefect(['gcl', 'disable', LIMIT]);
    try {
      const before = await doctor();
      // A finding, not a blocker: the rehearsal would run and show it.
      expect(before.exitCode).toBe(1);
      const check = checkOf(before.checks, 'global_limit.free');
      expect(check.verdict).toBe('fail');
      expect(check.fix).toBe(`uv run prefect gcl enable ${LIMIT}`);
      await runFix(check.fix);
      expect(checkOf((await doctor()).checks, 'global_limit.free').verdict).toBe('pass');
    } finally {
      await restoreLimit();
    }
  });

  it("deleted: the printed fix creates it with the manifest's limit and the check passes", async () => {
    await prefect(['gcl', 'delete', LIMIT]);
    try {
      const before = await doctor();
      expect(before.exitCode).toBe(1);
      const check = checkOf(before.checks, 'global_limit.free');
      expect(check.fix).toBe(`uv run prefect gcl create ${LIMIT} --limit 2`);
      await runFix(check.fix);
      const after = checkOf((await doctor()).checks, 'global_limit.free');
      expect(after.verdict).toBe('pass');
      expect(after.reason).toBe(`${LIMIT}: active, limit 2, no slot held`);
    } finally {
      await restoreLimit();
    }
  });
});

describe('render changes nothing in staging', () => {
  it('the runbook project: its dry run leaves the live deployment untouched', async () => {
    const before = await readDeployment();
    const run = await rehearse(['render', '--sandbox', '--json'], { cwd: await workspace() });
    expect(run.exitCode, run.stdout + run.stderr).toBe(0);
    expect((await readDeployment()).updated).toBe(before.updated);
  });

  it('the upstream project (no dry run): rehearse renders the manifests itself and the deployment is untouched', async () => {
    const state = await sandbox();
    const cwd = await workspace();
    await fs.writeJson(path.join(cwd, 'rehearse.config.json'), {
      projectDir: path.join(repo, 'fixtures/hotpass-upstream'),
      deployment: DEPLOYMENT,
      render: { deployCommand: ['uv', 'run', 'hotpass', 'deploy', '--flow', 'backfill', '--manifest-dir', 'prefect'] },
    });
    const deploymentsBefore = await api<unknown[]>('POST', '/deployments/filter', {});
    const before = await readDeployment();

    const auth: Record<string, string> = state.authString ? { PREFECT_API_AUTH_STRING: state.authString } : {};
    const run = await rehearse(['render', '--json'], { cwd, env: { PREFECT_API_URL: state.apiUrl, ...auth } });
    expect(run.exitCode, run.stdout + run.stderr).toBe(0);
    type Commands = { kind: string; args?: string[] }[];
    const out = JSON.parse(run.stdout) as {
      bundle: string;
      summary: { steps: { name: string; data?: Record<string, unknown>; commands: Commands }[] };
    };
    const step = out.summary.steps.find((s) => s.name === 'render');
    expect(step?.data).toMatchObject({ render: 'manifests', selected: ['backfill'] });
    // The only process it ran is the deploy command's --help; the rest were reads of the API.
    expect(step?.commands.filter((c) => c.kind === 'process').map((c) => c.args)).toEqual([
      ['run', 'hotpass', 'deploy', '--help'],
    ]);
    const specs = (await fs.readJson(path.resolve(cwd, out.bundle, 'rendered/specs.json'))) as Record<
      string,
      unknown
    >[];
    expect(specs[0]).toMatchObject({ work_pool: 'default-agent-pool', paused: true });

    expect((await readDeployment()).updated).toBe(before.updated);
    expect(await api<unknown[]>('POST', '/deployments/filter', {})).toHaveLength(deploymentsBefore.length);
  });
});
