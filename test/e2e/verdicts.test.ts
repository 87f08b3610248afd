import path from 'node:path';
import fs from 'fs-extra';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, type JsonOutput, parseJson, prefect, rehearse, workspace } from './support.js';

const checksOf = (out: JsonOutput, step: string): Record<string, { verdict: string; reason: string }> =>
  Object.fromEntries(
    (out.summary?.checks ?? []).filter((c) => (c as { step?: string }).step === step).map((c) => [c.id, c]),
  );

describe('each limit judged against what it bounds, on the real sandbox', () => {
  let cwd: string;

  beforeAll(async () => {
    cwd = await workspace();
    await prefect(['gcl', 'update', 'hotpass-backfill', '--limit', '1']);
  });
  afterAll(async () => {
    await prefect(['gcl', 'update', 'hotpass-backfill', '--limit', '2']);
    await prefect(['gcl', 'update', 'hotpass-backfill', '--active-slots', '0']);
  });

  it('a key limit of 1 under a deployment limit of 2: no concurrency check fails, each limit reached and held', async () => {
    const run = await rehearse(
      ['backfill', '--sandbox', '--json', '--burst', '3', '--param', 'day_seconds=1', '--watch-timeout', '240'],
      { cwd },
    );
    const out = parseJson(run);
    const validate = checksOf(out, 'validate');
    const detail = `${run.stderr}\n${JSON.stringify(out.summary?.checks, null, 1)}`;

    // Two runs RUNNING while one of them waits for the single slot: that is the key limit working.
    expect(out.summary?.steps.find((s) => s.name === 'validate')?.data).toMatchObject({
      peak: 2,
      holderPeak: 1,
      occupy: 1,
    });
    // The manifest's key limit of 2 is shielded by the live key limit of 1, which the runs reached and held.
    expect(validate['concurrency.manifest_limit']?.verdict, detail).toBe('pass');
    expect(validate['concurrency.manifest_limit']?.reason, detail).toContain(
      'shielded: at most 1 slots occupied can happen under the global limit hotpass-backfill of 1',
    );
    expect(validate['concurrency.deployment_limit']?.verdict, detail).toBe('pass');
    expect(validate['concurrency.global_limit']?.verdict, detail).toBe('pass');
    expect(validate['concurrency.global_limit']?.reason).toContain(
      'each run occupies 1 of the 1 slot(s), so one run holds them all',
    );
    expect(
      Object.values(validate).filter((c) => c.verdict === 'fail'),
      detail,
    ).toEqual([]);
    // The loosened key is drift the inspect step names; it is the only failure, so the exit is 1 for it alone.
    expect(
      (out.summary?.checks ?? []).filter((c) => c.verdict === 'fail').map((c) => c.id),
      detail,
    ).toEqual(['global_limit']);
    expect(run.exitCode).toBe(1);

    // Kept beside the workspace so the unit tests' recordings can be refreshed from a real run.
    const dir = path.join(cwd, out.bundle as string);
    const events = await api('POST', '/events/filter', {
      filter: {
        event: { name: ['prefect.concurrency-limit.acquired', 'prefect.concurrency-limit.released'] },
        occurred: { since: new Date(Date.now() - 600_000).toISOString() },
        order: 'ASC',
      },
      limit: 50,
    });
    await fs.writeJson(path.join(cwd, 'events.key-limit-1.json'), events, { spaces: 1 });
    await fs.copy(path.join(dir, 'state-history.json'), path.join(cwd, 'state-history.key-limit-1.json'));
  });
});

describe('a loosened outer limit, on the real sandbox', () => {
  beforeAll(async () => {
    await prefect(['work-pool', 'set-concurrency-limit', 'hotpass-backfill-pool', '10']);
  });
  afterAll(async () => {
    await prefect(['work-pool', 'set-concurrency-limit', 'hotpass-backfill-pool', '2']);
  });

  it('pool limit 10 under the deployment limit of 2: reported shielded, naming the deployment limit, accepted by expect', async () => {
    const cwd = await workspace();
    await fs.writeFile(path.join(cwd, 'rehearse.config.yaml'), 'expect:\n  workPoolLimit: 10\n');
    const run = await rehearse(
      ['backfill', '--sandbox', '--json', '--param', 'day_seconds=1', '--watch-timeout', '240'],
      { cwd },
    );
    const out = parseJson(run);
    const validate = checksOf(out, 'validate');
    const detail = `${run.stderr}\n${JSON.stringify(out.summary?.checks, null, 1)}`;
    const pool = validate['concurrency.work_pool_limit'];
    expect(pool?.verdict, detail).toBe('pass');
    expect(pool?.reason).toMatch(
      /^shielded: at most 2 runs RUNNING can happen under the deployment limit of 2, which the runs reached/,
    );
    expect(pool?.reason).not.toContain('--burst');
    expect(validate['expect.work_pool_limit']?.verdict).toBe('pass');
    expect(run.exitCode, detail).toBe(0);
  });
});
