import { createHash } from 'node:crypto';
import path from 'node:path';
import { execa } from 'execa';
import fs from 'fs-extra';
import { describe, expect, it } from 'vitest';
import { stopGroup } from '../../src/process/daemon.js';
import { sandboxWorkers } from '../../src/sandbox/state.js';
import { api, parseJson, prefect, rehearse, repo, sandbox, workspace } from './support.js';

interface DoctorCheck {
  id: string;
  verdict: string;
  reason: string;
}
const doctorChecks = (stdout: string): DoctorCheck[] =>
  (JSON.parse(stdout) as { data: { checks: DoctorCheck[] } }).data.checks;

async function snapshot(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  if (!(await fs.pathExists(dir))) return out;
  const walk = async (rel: string): Promise<void> => {
    for (const entry of await fs.readdir(path.join(dir, rel), { withFileTypes: true })) {
      const p = path.join(rel, entry.name);
      if (entry.isDirectory()) await walk(p);
      else
        out[p] = createHash('sha256')
          .update(await fs.readFile(path.join(dir, p)))
          .digest('hex');
    }
  };
  await walk('');
  return out;
}

describe('doctor against the real sandbox', () => {
  it('passes on the healthy sandbox', async () => {
    const run = await rehearse(['doctor', '--sandbox', '--json'], { cwd: await workspace() });
    expect(run.exitCode, run.stdout).toBe(0);
    expect(doctorChecks(run.stdout).map((c) => c.id)).toEqual([
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
  });

  it('fails naming the missing worker, with the command that starts one, when the worker is stopped', async () => {
    const cwd = await workspace();
    const state = await sandbox();
    await Promise.all(sandboxWorkers(state).map((w) => stopGroup(w.pid)));
    try {
      let checks: DoctorCheck[] = [];
      for (let i = 0; i < 60; i += 1) {
        const run = await rehearse(
          ['doctor', '--sandbox', '--json', '--deployment', 'hotpass-backfill/hotpass-backfill'],
          { cwd },
        );
        checks = doctorChecks(run.stdout);
        if (run.exitCode === 3) break;
        await new Promise((resolve) => setTimeout(resolve, 2000));
      }
      const pool = checks.find((c) => c.id === 'work_pool.ready');
      expect(pool?.verdict).toBe('fail');
      expect(pool?.reason).toContain('no live worker polls hotpass-backfill-pool');
      expect(pool?.reason).toContain('uv run prefect worker start --pool hotpass-backfill-pool');
    } finally {
      const up = await rehearse(['sandbox', 'up'], { cwd });
      expect(up.exitCode, up.stdout).toBe(0);
    }
  });

  it('fails naming the held slot, with the command that frees it, when a slot of the global limit is held', async () => {
    await prefect(['gcl', 'update', 'hotpass-backfill', '--active-slots', '1']);
    try {
      const run = await rehearse(['doctor', '--sandbox', '--json'], { cwd: await workspace() });
      expect(run.exitCode).toBe(3);
      const check = doctorChecks(run.stdout).find((c) => c.id === 'global_limit.free');
      expect(check?.reason).toContain('1 of 2 slot(s) of hotpass-backfill are held');
      expect(check?.reason).toContain('fix: rehearse cleanup --all');
    } finally {
      await prefect(['gcl', 'update', 'hotpass-backfill', '--active-slots', '0']);
    }
  });
});

describe('--dry-run', () => {
  it('prints every command it would run, exactly, runs only read-only ones, and writes nothing', async () => {
    const cwd = await workspace();
    const before = await api<unknown[]>('POST', '/flow_runs/filter', {});
    const run = await rehearse(['backfill', '--sandbox', '--dry-run', '--json', '--to', path.join(cwd, 'shared')], {
      cwd,
    });
    expect(run.exitCode, run.stderr).toBe(0);
    const out = JSON.parse(run.stdout) as {
      dryRun: boolean;
      bundle?: string;
      summary: {
        verdict: string;
        steps: { name: string; commands: { display: string; planned?: boolean; readOnly: boolean }[] }[];
      };
    };
    expect(out.dryRun).toBe(true);
    expect(out.bundle).toBeUndefined();
    expect(out.summary.verdict).toBe('incomplete');
    const planned = out.summary.steps.flatMap((s) => s.commands.filter((c) => c.planned).map((c) => c.display));
    expect(
      planned.some((d) =>
        /^PREFECT_API_URL=\S+ .*uv run prefect deployment run hotpass-backfill\/hotpass-backfill --params - --watch .* <<< '\{"since":"2024-01-01","until":"2024-01-07"\}'$/.test(
          d,
        ),
      ),
    ).toBe(true);
    const ran = out.summary.steps.flatMap((s) => s.commands.filter((c) => !c.planned));
    expect(ran.every((c) => c.readOnly)).toBe(true);
    expect(ran.some((c) => c.display.includes('deployment inspect'))).toBe(true);
    expect(run.stderr).toContain('would run');
    expect(await fs.readdir(cwd)).toEqual([]);
    expect(await api<unknown[]>('POST', '/flow_runs/filter', {})).toHaveLength(before.length);
  });
});

describe('interruption', () => {
  it('SIGINT during a watched burst leaves a bundle marked interrupted, the created runs cancelled, and no later pass', async () => {
    const cwd = await workspace();
    const state = await sandbox();
    const child = execa(
      'node',
      [
        path.join(repo, 'bin/rehearse.js'),
        'run',
        '--sandbox',
        '--new-bundle',
        '--burst',
        '3',
        '--param',
        'day_seconds=5',
        '--json',
      ],
      {
        cwd,
        env: { ...process.env, REHEARSE_SANDBOX_HOME: state.stateDir, CI: '1' },
        reject: false,
      },
    );
    // Wait until the burst runs on the server, then interrupt as an operator would.
    const since = new Date(Date.now() - 5000).toISOString();
    let running = 0;
    let created = 0;
    for (let i = 0; i < 300 && (running === 0 || created < 3); i += 1) {
      await new Promise((resolve) => setTimeout(resolve, 1000));
      const runs = await api<{ state_type: string; tags: string[] }[]>('POST', '/flow_runs/filter', {
        flow_runs: { tags: { all_: ['rehearse'] }, expected_start_time: { after_: since } },
      });
      running = runs.filter((r) => r.state_type === 'RUNNING').length;
      created = runs.length;
    }
    expect([created, running > 0]).toEqual([3, true]);
    child.kill('SIGINT');
    const result = await child;
    expect(result.exitCode).toBe(3);
    const out = JSON.parse(result.stdout) as {
      bundle: string;
      summary: {
        status: string;
        verdict: string;
        steps: { name: string; status: string; data: { flowRunIds: string[]; cancelled: unknown[] } }[];
      };
    };
    expect(out.summary.status).toBe('interrupted');
    const runStep = out.summary.steps.find((s) => s.name === 'run');
    expect(runStep?.status).toBe('interrupted');
    expect(runStep?.data.flowRunIds).toHaveLength(3);

    let states: string[] = [];
    for (let i = 0; i < 240; i += 1) {
      const runs = await api<{ state_type: string }[]>('POST', '/flow_runs/filter', {
        flow_runs: { id: { any_: runStep?.data.flowRunIds } },
      });
      states = runs.map((r) => r.state_type);
      if (states.every((s) => s === 'CANCELLED')) break;
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
    // Queued runs end Cancelled; a running one is stopped by its worker (Prefect may then call it Crashed).
    expect(
      states.every((s) => s === 'CANCELLED' || s === 'CRASHED'),
      states.join(),
    ).toBe(true);
    expect(states.filter((s) => s === 'CANCELLED').length).toBeGreaterThan(0);
    for (const id of runStep?.data.flowRunIds ?? []) {
      const history = await api<{ type: string; message: string | null }[]>(
        'GET',
        `/flow_run_states/?flow_run_id=${id}`,
      );
      expect(
        history.some(
          (st) => (st.type === 'CANCELLING' || st.type === 'CANCELLED') && (st.message ?? '').includes('rehearse'),
        ),
        id,
      ).toBe(true);
    }

    const dir = path.join(cwd, out.bundle);
    const validate = await rehearse(['validate', '--sandbox', '--json', '--bundle', dir], { cwd });
    const validated = parseJson(validate);
    expect(validate.exitCode).not.toBe(0);
    expect(validated.summary?.verdict).toBe('incomplete');
    expect(validated.summary?.status).toBe('interrupted');
    const verify = await rehearse(['verify', dir, '--json'], { cwd });
    // Intact (every file matches) but it proves nothing: exit 4, never 0.
    expect(verify.exitCode, verify.stdout).toBe(4);
    expect(JSON.parse(verify.stdout)).toMatchObject({
      verdict: 'incomplete',
      data: { ok: true, status: 'interrupted' },
    });

    // A run killed while it held a slot of the global limit leaves that slot taken until the server
    // reclaims its lease (doctor reports it as held); free it so the suites after this one start clean.
    await prefect(['gcl', 'update', 'hotpass-backfill', '--active-slots', '0']);
  });
});

describe('bad input: one screen, the right exit code, earlier bundles untouched', () => {
  it('rejects each bad input with a clear message and leaves the evidence root as it was', async () => {
    const cwd = await workspace();
    const first = await rehearse(['inspect', '--sandbox', '--json'], { cwd });
    expect(first.exitCode).toBe(0);
    const root = path.join(cwd, 'dist/staging/backfill');
    const before = await snapshot(root);
    const notABundle = await workspace();
    await fs.writeFile(path.join(cwd, 'not-a-dir'), 'x');

    const cases: {
      name: string;
      args: string[];
      code: number;
      says: RegExp;
      setup?: () => Promise<void>;
      teardown?: () => Promise<void>;
    }[] = [
      {
        name: '--since after --until',
        args: ['run', '--sandbox', '--since', '2024-02-01', '--until', '2024-01-01'],
        code: 2,
        says: /run\.since: since is after until/,
      },
      {
        name: 'a date that is not one',
        args: ['run', '--sandbox', '--since', '2024-13-45'],
        code: 2,
        says: /run\.since: is not a real date/,
      },
      {
        name: 'a malformed date',
        args: ['run', '--sandbox', '--until', 'next tuesday'],
        code: 2,
        says: /run\.until: expected a date as YYYY-MM-DD/,
      },
      {
        name: 'a bundle path that is not a bundle',
        args: ['capture', '--sandbox', '--bundle', notABundle],
        code: 2,
        says: /is not a rehearse bundle/,
      },
      {
        name: 'a deployment that does not exist',
        args: ['inspect', '--sandbox', '--deployment', 'no-such-deployment'],
        code: 3,
        says: /no deployment named 'no-such-deployment'.*\n.*hotpass-backfill/,
      },
      {
        name: 'a work pool that does not exist',
        args: ['doctor', '--sandbox', '--deployment', 'no-such-deployment', '--work-pool', 'no-such-pool'],
        code: 3,
        says: /work pool no-such-pool does not exist/,
      },
      {
        name: 'a parameter the deployment refuses',
        args: ['run', '--sandbox', '--param', 'not_a_param=1'],
        code: 2,
        says: /does not accept parameter\(s\) not_a_param[\s\S]*it accepts: since, until, runs/,
      },
      {
        name: 'an evidence root that cannot be written',
        args: ['inspect', '--sandbox', '--evidence-root', 'not-a-dir/bundles'],
        code: 3,
        says: /cannot write to the evidence root/,
      },
      {
        name: 'a config file with wrong types and unknown keys',
        args: ['inspect', '--sandbox'],
        code: 2,
        says: /rehearse\.config\.json is invalid[\s\S]*deployment: .*string[\s\S]*unknown key\(s\) 'burts'/,
        setup: () => fs.writeJson(path.join(cwd, 'rehearse.config.json'), { deployment: 5, run: { burts: 3 } }),
        teardown: () => fs.remove(path.join(cwd, 'rehearse.config.json')),
      },
    ];
    for (const c of cases) {
      await c.setup?.();
      const run = await rehearse(c.args, { cwd });
      await c.teardown?.();
      const text = run.stdout + run.stderr;
      expect(run.exitCode, `${c.name}: ${text}`).toBe(c.code);
      expect(text, c.name).toMatch(c.says);
      expect(text, `${c.name} printed a stack trace`).not.toMatch(/\n\s+at .+:\d+:\d+/);
      expect(text.split('\n').length, `${c.name} is longer than a screen`).toBeLessThan(40);
    }
    expect(await snapshot(root)).toEqual(before);
  });

  it('Prefect printing an error where JSON was expected: the raw output is kept in the bundle', async () => {
    const cwd = await workspace();
    const run = await rehearse(
      ['inspect', '--sandbox', '--json', '--deployment', 'hotpass-backfill/no-such-deployment'],
      { cwd },
    );
    expect(run.exitCode).toBe(3);
    const out = parseJson(run);
    expect(out.error?.code).toBe('NOT_FOUND');
    const log = await fs.readFile(path.join(cwd, out.bundle as string, 'deployment.inspect.log'), 'utf8');
    expect(log).toMatch(/not found/i);
  });
});
