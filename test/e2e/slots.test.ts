import path from 'node:path';
import fs from 'fs-extra';
import { describe, expect, it } from 'vitest';
import { api, parseJson, rehearse, workspace } from './support.js';

const checkOf = (out: ReturnType<typeof parseJson>, id: string) => out.summary?.checks.find((c) => c.id === id);

describe('slots.released on the real server: a key left held fails the check, cleanup gives it back', () => {
  it('passes after a healthy run, fails once a slot is held by hand, passes again after cleanup', async () => {
    const cwd = await workspace();
    // A short bound: the held slot below never comes back by itself.
    await fs.writeJson(path.join(cwd, 'rehearse.config.json'), { timeouts: { slotReleaseSeconds: 5 } });
    const window = ['--since', '2024-01-01', '--until', '2024-01-01'];
    const run = await rehearse(['run', '--sandbox', '--json', '--burst', '2', ...window], { cwd });
    expect(run.exitCode, run.stdout).toBe(0);
    const healthy = await rehearse(['validate', '--sandbox', '--json'], { cwd });
    expect(checkOf(parseJson(healthy), 'slots.released'), healthy.stdout).toMatchObject({ verdict: 'pass' });

    // What a run killed with its process leaves: a slot of the key that no live run holds.
    const key = await api<{ id: string; active_slots: number }>('GET', '/v2/concurrency_limits/hotpass-backfill');
    await api('PATCH', `/v2/concurrency_limits/${key.id}`, { active_slots: key.active_slots + 1 });
    const held = await rehearse(['validate', '--sandbox', '--json'], { cwd });
    const failed = checkOf(parseJson(held), 'slots.released');
    expect(held.exitCode, held.stdout).toBe(1);
    expect(failed?.verdict).toBe('fail');
    expect(failed?.reason).toMatch(
      /^hotpass-backfill holds 1 more than before \(\d+ -> \d+\) after \d+ s \(bound 5 s\)/,
    );
    expect(failed?.reason).toContain('no live run of the deployment holds them: orphaned');

    const cleanup = await rehearse(['cleanup', '--sandbox'], { cwd });
    expect(cleanup.exitCode, `${cleanup.stdout}\n${cleanup.stderr}`).toBe(0);
    expect((await api<{ active_slots: number }>('GET', '/v2/concurrency_limits/hotpass-backfill')).active_slots).toBe(
      0,
    );
    const again = await rehearse(['validate', '--sandbox', '--json'], { cwd });
    expect(checkOf(parseJson(again), 'slots.released')).toMatchObject({ verdict: 'pass' });
  }, 900_000);
});
