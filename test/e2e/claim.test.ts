import path from 'node:path';
import fs from 'fs-extra';
import { beforeAll, describe, expect, it } from 'vitest';
import { api, type CliRun, parseJson, rehearse, workspace } from './support.js';

describe('two rehearsals of one deployment started at the same moment (two operators, two machines)', () => {
  let deploymentId: string;

  beforeAll(async () => {
    deploymentId = (await api<{ id: string }>('GET', '/deployments/name/hotpass-backfill/hotpass-backfill')).id;
  });

  it('one holds the deployment, the other is refused busy before it makes a run, and the burst of 1 never passes', async () => {
    const [here, there] = [await workspace(), await workspace()];
    const [one, three] = await Promise.all([
      // The default window (7 days), as the healthy backfill: one-day runs can end before the next takes a slot.
      rehearse(['backfill', '--sandbox', '--json', '--burst', '1'], { cwd: here }),
      rehearse(['backfill', '--sandbox', '--json', '--burst', '3'], { cwd: there }),
    ]);
    const outcome = (run: CliRun) => `exit ${run.exitCode}\n${run.stdout.slice(-3000)}\n${run.stderr.slice(-2000)}`;
    // Alone a burst of 1 is inconclusive (4); it must never pass on the other rehearsal's runs.
    expect(one.exitCode, outcome(one)).not.toBe(0);
    const refused = [one, three].filter((run) => parseJson(run).error?.code === 'DEPLOYMENT_CLAIMED');
    expect(refused, `${outcome(one)}\n---\n${outcome(three)}`).toHaveLength(1);
    const [busy] = refused as [CliRun];
    const ran = busy === one ? three : one;
    expect(busy.exitCode).toBe(3);
    expect(parseJson(busy).error?.message).toBe('another rehearsal holds hotpass-backfill/hotpass-backfill');
    // The refused rehearsal made no run: its run step failed before creating any.
    const busyRun = parseJson(busy).summary?.steps.find((s) => s.name === 'run');
    expect(busyRun?.data?.flowRunIds ?? []).toEqual([]);
    // The one that ran is judged alone: a pass for the burst of 3, inconclusive for the burst of 1.
    expect(ran.exitCode, outcome(ran)).toBe(ran === three ? 0 : 4);
    const submitted = parseJson(ran).summary?.steps.find((s) => s.name === 'validate')?.data?.submitted;
    expect(submitted).toBe(ran === three ? 3 : 1);
    // Every slot the burst took came back.
    const released = parseJson(ran).summary?.checks.find((c) => c.id === 'slots.released');
    expect(released, outcome(ran)).toMatchObject({ verdict: 'pass' });
    // Given back: the next rehearsal may start.
    await expect(api('GET', `/variables/name/rehearse-claim-${deploymentId}`)).rejects.toThrow(/404/);
    for (const cwd of [here, there]) await fs.remove(path.join(cwd));
  }, 900_000);
});
