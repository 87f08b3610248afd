import { spawn } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import fs from 'fs-extra';
import { describe, expect, it } from 'vitest';
import { isAlive } from '../../src/process/daemon.js';
import { callMark, expectNothingOfOursLeft, expectVerified, type Fault, FINAL } from './fault-support.js';
import { api, parseJson, rehearse, sandbox, workspace } from './support.js';

describe('faults injected into a burst on the real sandbox', () => {
  it('refuses an unknown fault with exit 2 before any bundle is made', async () => {
    const cwd = await workspace();
    const run = await rehearse(['backfill', '--sandbox', '--fault', 'kill-everything'], { cwd });
    expect(run.exitCode, run.stderr).toBe(2);
    // The one-screen error, with the kinds and moments there are.
    expect(run.stdout + run.stderr).toContain("--fault: unknown kind 'kill-everything'");
    expect(run.stdout + run.stderr).toContain('limit-reached');
    expect(await fs.pathExists(path.join(cwd, 'dist'))).toBe(false);
  });

  it('the check for processes left behind sees one: a process carrying the call mark outside the sandbox', async () => {
    const mark = callMark();
    const left = spawn('sleep', ['3000'], { env: { ...process.env, ...mark }, detached: true, stdio: 'ignore' });
    try {
      await expect(expectNothingOfOursLeft(mark, [], 1_000)).rejects.toThrow(`pid ${left.pid}: sleep 3000`);
    } finally {
      left.kill('SIGKILL');
    }
  });

  it('cancel-run and a command of our own: never exit 3, the hit run Cancelled as the API says, slots back, verify agrees', async () => {
    const cwd = await workspace();
    const mark = callMark();
    const marker = path.join(await fs.mkdtemp(path.join(os.tmpdir(), 'rehearse-marker-')), 'hit');
    const backfill = await rehearse(
      [
        'backfill',
        '--sandbox',
        '--json',
        // The default 7-day window: each run holds its key slot for seconds, as the healthy backfill.
        // The command leaves a child in the background, holding its output: rehearse stops it with the command.
        ...['--fault', 'cancel-run', '--fault-command', `echo hit >> ${marker}; sleep 3000 &`],
        ...['--fault-at', 'first-running'],
      ],
      { cwd, env: mark },
    );
    const out = parseJson(backfill);
    const detail = `${backfill.stderr}\n${JSON.stringify(out.summary?.checks, null, 1)}`;
    // The guardrail held through the fault: the peak filled the key before the cancel, the slot came back.
    expect(backfill.exitCode, detail).toBe(0);

    const dir = path.join(cwd, out.bundle as string);
    const file = (await fs.readJson(path.join(dir, 'faults.json'))) as {
      faults: Fault[];
      slotsReleased?: { verdict: string };
      rollback: { slots: { limit: string; action: string }[] };
    };
    const { faults } = file;
    const [cancel, command] = faults;
    expect(cancel, detail).toMatchObject({ kind: 'cancel-run', status: 'injected', action: { apiStatus: 201 } });
    // limit-reached waited for the key's slots: the cancel hit a run inside the guarded block.
    expect(cancel?.slotsAtInjection, detail).toEqual({ limit: 'hotpass-backfill', active: 2, of: 2 });
    const hit = await api<{ state_type: string; state_name: string }>('GET', `/flow_runs/${cancel?.target?.id}`);
    expect(hit.state_type).toBe('CANCELLED');
    expect(cancel?.recovery?.hitRunFinalState).toBe(hit.state_name);
    expect(cancel?.recovery?.secondsToFinal).toEqual(expect.any(Number));
    expect(command).toMatchObject({ kind: 'command', status: 'injected', action: { exitCode: 0 } });
    expect((await fs.readFile(marker, 'utf8')).split('\n').filter(Boolean)).toEqual(['hit']);

    const checks = out.summary?.checks ?? [];
    const released = checks.find((c) => c.id === 'slots.released');
    expect(released?.verdict, detail).toBe('pass');
    expect(checks.find((c) => c.id === 'concurrency.global_limit')?.verdict, detail).toBe('pass');
    // faults.json keeps what validate judged of the slots, then what the rollback did with the key.
    expect(file.slotsReleased?.verdict).toBe(released?.verdict);
    expect(file.rollback.slots.map((s) => s.limit)).toContain('hotpass-backfill');
    expect(
      checks.find((c) => c.id === 'faults.untouched_completed'),
      detail,
    ).toMatchObject({ verdict: 'pass' });
    const runIds = out.summary?.steps.find((s) => s.name === 'run')?.data?.flowRunIds as string[];
    for (const id of runIds)
      expect(FINAL, id).toContain((await api<{ state_type: string }>('GET', `/flow_runs/${id}`)).state_type);
    const key = await api<{ active_slots: number }>('GET', '/v2/concurrency_limits/hotpass-backfill');
    expect(key.active_slots).toBe(0);
    await expectNothingOfOursLeft(mark, runIds);

    // The report's timeline marks the fault where it struck, on the run it hit.
    const svg = await fs.readFile(path.join(dir, 'concurrency.svg'), 'utf8');
    expect(svg).toContain(`<g class="fault" data-run="${cancel?.target?.id}">`);
    expect(svg).toContain(`fault: cancel-run on ${cancel?.target?.name}`);
    await expectVerified(dir, cwd, backfill.exitCode);
  }, 900_000);

  it('kill-flow: the hit run Crashed as the API says, its key slot back once its lease expired, exit 0, verify agrees', async () => {
    const cwd = await workspace();
    // The default 7-day window: each run holds its key slot for seconds, so the kill hits a run inside the block.
    const mark = callMark();
    const backfill = await rehearse(['backfill', '--sandbox', '--json', '--fault', 'kill-flow'], { cwd, env: mark });
    const out = parseJson(backfill);
    const detail = `${backfill.stderr}\n${JSON.stringify(out.summary?.checks, null, 1)}`;
    const dir = path.join(cwd, out.bundle as string);
    const file = (await fs.readJson(path.join(dir, 'faults.json'))) as {
      faults: Fault[];
      slotsReleased?: { verdict: string; backWithinSeconds?: number };
      settings?: Record<string, string>;
    };
    const [kill] = file.faults;
    expect(kill, detail).toMatchObject({
      kind: 'kill-flow',
      status: 'injected',
      action: { killedPid: expect.any(Number) },
    });
    expect(kill?.slotsAtInjection, detail).toEqual({ limit: 'hotpass-backfill', active: 2, of: 2 });
    // The worker saw its process die and reported the run Crashed: no second start (Running -> Running).
    const hit = await api<{ state_type: string; state_name: string }>('GET', `/flow_runs/${kill?.target?.id}`);
    expect(hit.state_type, detail).toBe('CRASHED');
    expect(kill?.recovery?.hitRunFinalState).toBe(hit.state_name);
    const states = await api<{ type: string }[]>('GET', `/flow_run_states/?flow_run_id=${kill?.target?.id}`);
    expect(
      states.filter((state) => state.type === 'RUNNING'),
      JSON.stringify(states),
    ).toHaveLength(1);

    // The dead process could not release its slot of the key: it came back when its lease (60 s in the sandbox)
    // expired, within the bound, so the hypothesis holds: exit 0.
    const checks = out.summary?.checks ?? [];
    expect(checks.find((c) => c.id === 'slots.released')?.verdict, detail).toBe('pass');
    expect(checks.find((c) => c.id === 'runs.completed')?.verdict, detail).toBe('pass');
    expect(backfill.exitCode, detail).toBe(0);
    expect(file.slotsReleased?.verdict).toBe('pass');
    expect(file.slotsReleased?.backWithinSeconds).toEqual(expect.any(Number));
    expect(file.settings).toMatchObject({ timing: 'quick', HOTPASS_CONCURRENCY_LEASE_SECONDS: '60' });

    const runIds = out.summary?.steps.find((s) => s.name === 'run')?.data?.flowRunIds as string[];
    for (const id of runIds)
      expect(FINAL, id).toContain((await api<{ state_type: string }>('GET', `/flow_runs/${id}`)).state_type);
    const key = await api<{ active_slots: number }>('GET', '/v2/concurrency_limits/hotpass-backfill');
    expect(key.active_slots).toBe(0);
    await expectNothingOfOursLeft(mark, runIds);

    await expectVerified(dir, cwd, backfill.exitCode);
  }, 900_000);

  it('kill-worker: the worker started again after its down time, the pool live again, every run final, the runs under it touched by the fault, every other run completed', async () => {
    const cwd = await workspace();
    const before = await sandbox();
    const mark = callMark();
    const backfill = await rehearse(
      ['backfill', '--sandbox', '--json', '--fault', 'kill-worker', '--fault-down', '5'],
      { cwd, env: mark },
    );
    const out = parseJson(backfill);
    const detail = `${backfill.stderr}\n${JSON.stringify(out.summary?.checks, null, 1)}`;
    const dir = path.join(cwd, out.bundle as string);
    const { faults } = (await fs.readJson(path.join(dir, 'faults.json'))) as { faults: Fault[] };
    const [kill] = faults;
    expect(kill, detail).toMatchObject({ kind: 'kill-worker', status: 'injected' });
    const action = kill?.action as { killedPid: number; restartedPid: number; downSeconds: number };
    expect(before.workers?.map((w) => w.pid)).toContain(action.killedPid);
    // The sandbox's state names the restarted worker, which lives; the killed one does not.
    const after = await sandbox();
    expect(after.workers?.map((w) => w.pid)).toContain(action.restartedPid);
    expect(isAlive(action.restartedPid)).toBe(true);
    expect(isAlive(action.killedPid)).toBe(false);
    expect(action.downSeconds).toBeGreaterThanOrEqual(5);

    const checks = out.summary?.checks ?? [];
    expect(checks.find((c) => c.id === 'faults.worker_back')?.verdict, detail).toBe('pass');
    // Runs the killed worker had started may end Crashed with it (measured on Prefect 3.9.1: within a second of
    // the kill): the fault touched them, and faults.json names them. Every run it did not touch completed.
    const runIds = out.summary?.steps.find((s) => s.name === 'run')?.data?.flowRunIds as string[];
    // faults.json says how each of them ended (as the API does), and why when they crashed with the pipe.
    const touched = new Set((kill?.touchedRuns ?? []).map((r) => r.id));
    const ended = new Map((kill?.recovery?.touchedRunsEnded ?? []).map((r) => [r.run, r]));
    expect(ended.size, detail).toBe(touched.size);
    for (const id of runIds) {
      const run = await api<{ name: string; state_type: string; state: { message?: string } }>(
        'GET',
        `/flow_runs/${id}`,
      );
      if (!touched.has(id)) {
        expect(run.state_type, `${id} was not under the killed worker\n${detail}`).toBe('COMPLETED');
        continue;
      }
      expect(['COMPLETED', 'CRASHED'], detail).toContain(run.state_type);
      expect(ended.get(run.name)?.state.toUpperCase(), detail).toBe(run.state_type);
      const pipe = run.state_type === 'CRASHED' && /system exit/i.test(run.state.message ?? '');
      expect(checks.find((c) => c.id === 'faults.1.kill-worker')?.reason?.includes('stream_output: false')).toBe(pipe);
    }
    expect(checks.find((c) => c.id === 'faults.untouched_completed')?.verdict, detail).toBe('pass');
    expect(backfill.exitCode, detail).toBe(0);
    const key = await api<{ active_slots: number }>('GET', '/v2/concurrency_limits/hotpass-backfill');
    expect(key.active_slots).toBe(0);
    // The worker rehearse started again carries its call's mark and stays up: the scan sees what rehearse
    // starts, and finds nothing else of the call alive.
    expect(await expectNothingOfOursLeft(mark, runIds)).toContain(action.restartedPid);
    await expectVerified(dir, cwd, backfill.exitCode);
  }, 900_000);
});
