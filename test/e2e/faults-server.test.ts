import path from 'node:path';
import fs from 'fs-extra';
import { describe, expect, it } from 'vitest';
import {
  callMark,
  expectNothingOfOursLeft,
  expectServerRestarted,
  expectVerified,
  type Fault,
  FINAL,
} from './fault-support.js';
import { api, parseJson, rehearse, sandbox, workspace } from './support.js';

/**
 * The faults that stop the sandbox's API server, in a file of their own so they run beside the other
 * faults (vitest.config.ts): each restart leaves the key's slots held for good (Prefect 3.9 keeps leases in
 * memory), which the rollback frees.
 */
describe('server faults injected into a burst on the real sandbox', () => {
  it('restart-api at limit-reached, default burst: the holders fail with the restart, their slots stay held, the third run stranded behind them is cancelled, exit 1 (never 3), slots.released fails, none held after the rollback', async () => {
    const cwd = await workspace();
    const before = await sandbox();
    const mark = callMark();
    // The default burst (limit + 1) and moment: both runs inside the key's block fail with the restart and
    // their slots stay held for good (Prefect 3.9 keeps leases in memory, see README "Rehearsing faults"),
    // so the third run waits behind slots no one holds until rehearse cancels it as stranded.
    // Days of 3 s: the two holders overlap for most of their 21 s even when their flow processes start far
    // apart on a loaded machine, so a poll sees the block full (with 7 s holds, a start skew of a few seconds
    // left the moment unseen and the fault not injected). The restart fails them, so the length costs nothing.
    const backfill = await rehearse(
      ['backfill', '--sandbox', '--json', '--fault', 'restart-api', '--param', 'day_seconds=3'],
      { cwd, env: mark },
    );
    const out = parseJson(backfill);
    const checks = out.summary?.checks ?? [];
    const detail = `${backfill.stderr}\n${JSON.stringify(checks, null, 1)}`;
    expect(backfill.exitCode, detail).toBe(1);
    const dir = path.join(cwd, out.bundle as string);
    const file = (await fs.readJson(path.join(dir, 'faults.json'))) as {
      faults: (Fault & { strandedRuns?: { reason: string; runs: { id: string; to: string }[] } })[];
      slotsReleased?: { verdict: string };
    };
    const [restart] = file.faults;
    expect(restart, detail).toMatchObject({
      kind: 'restart-api',
      status: 'injected',
      target: { name: 'sandbox API server' },
      slotsAtInjection: { limit: 'hotpass-backfill', active: 2, of: 2 },
    });
    // The server up started was stopped; the state file names the new one, on the same port, and it answers.
    const action = await expectServerRestarted(restart, before);
    expect(action.downSeconds).toBeGreaterThan(0);

    // The stranded run: cancelled by rehearse, named in faults.json with why, Cancelled as the API says.
    const stranded = restart?.strandedRuns;
    expect(stranded?.reason, detail).toContain('hotpass-backfill held 2/2 slots');
    expect(stranded?.runs.length, detail).toBe(1);
    const strandedRun = await api<{ state_type: string }>('GET', `/flow_runs/${stranded?.runs[0]?.id}`);
    expect(strandedRun.state_type).toBe('CANCELLED');
    const runIds = out.summary?.steps.find((s) => s.name === 'run')?.data?.flowRunIds as string[];
    expect(runIds).toHaveLength(3);
    for (const id of runIds)
      expect(FINAL, id).toContain((await api<{ state_type: string }>('GET', `/flow_runs/${id}`)).state_type);
    // The slots the restart left held fail slots.released, saying so and naming the fix that works.
    const released = checks.find((c) => c.id === 'slots.released');
    expect(released?.verdict, detail).toBe('fail');
    expect(released?.reason).toContain('`rehearse cleanup` gives back');
    expect(file.slotsReleased?.verdict).toBe('fail');
    expect(
      checks.some((c) => c.verdict === 'inconclusive'),
      detail,
    ).toBe(false);
    // The rollback gave back what the restart left held: the next rehearsal finds the key free.
    const key = await api<{ active_slots: number }>('GET', '/v2/concurrency_limits/hotpass-backfill');
    expect(key.active_slots).toBe(0);
    // The server rehearse started again carries the call's mark and stays up; nothing else of the call lives.
    expect(await expectNothingOfOursLeft(mark, runIds)).toContain(action.restartedPid);
    await expectVerified(dir, cwd, 1);
  }, 900_000);

  it('api-outage for 5 s at first-running, burst 2: the API answers nothing, rehearse rides it out (exit 0 or 1 as its checks say, never 3), every run final, slots.released judged, none held after the rollback', async () => {
    const cwd = await workspace();
    const before = await sandbox();
    const mark = callMark();
    // Two runs: none waits for a slot, so none is stranded; first-running comes however the two overlap.
    const backfill = await rehearse(
      ['backfill', '--sandbox', '--json', '--burst', '2', '--fault', 'api-outage@first-running', '--fault-down', '5'],
      { cwd, env: mark },
    );
    const out = parseJson(backfill);
    const checks = out.summary?.checks ?? [];
    const detail = `${backfill.stderr}\n${JSON.stringify(checks, null, 1)}`;
    expect([0, 1], detail).toContain(backfill.exitCode);
    const dir = path.join(cwd, out.bundle as string);
    const file = (await fs.readJson(path.join(dir, 'faults.json'))) as {
      faults: Fault[];
      slotsReleased?: { verdict: string };
    };
    const [outage] = file.faults;
    expect(outage, detail).toMatchObject({ kind: 'api-outage', status: 'injected' });
    const action = await expectServerRestarted(outage, before);
    // Down at least the seconds asked for: the stop, the 5 s, then the start until /health answered.
    expect(action.downSeconds).toBeGreaterThanOrEqual(5);
    const runIds = out.summary?.steps.find((s) => s.name === 'run')?.data?.flowRunIds as string[];
    expect(runIds).toHaveLength(2);
    for (const id of runIds)
      expect(FINAL, id).toContain((await api<{ state_type: string }>('GET', `/flow_runs/${id}`)).state_type);
    // Slots held across the outage are judged, never left inconclusive; a failure names the fix that works.
    const released = checks.find((c) => c.id === 'slots.released');
    expect(['pass', 'fail'], detail).toContain(released?.verdict);
    if (released?.verdict === 'fail') expect(released.reason).toContain('`rehearse cleanup` gives back');
    expect(file.slotsReleased?.verdict).toBe(released?.verdict);
    expect(backfill.exitCode, detail).toBe(checks.some((c) => c.verdict === 'fail') ? 1 : 0);
    const key = await api<{ active_slots: number }>('GET', '/v2/concurrency_limits/hotpass-backfill');
    expect(key.active_slots).toBe(0);
    expect(await expectNothingOfOursLeft(mark, runIds)).toContain(action.restartedPid);
    await expectVerified(dir, cwd, backfill.exitCode);
  }, 900_000);
});
