import path from 'node:path';
import fs from 'fs-extra';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, apiText, failing, parseJson, prefect, rehearse, sandbox, workspace } from './support.js';

interface DeploymentRecord {
  id: string;
  parameters: Record<string, unknown> & { parameters: { pipeline: { backfill: boolean } } };
}

const KEY = 'hotpass-backfill';

describe('rehearse inspect against the real sandbox', () => {
  let cwd: string;
  let deployment: DeploymentRecord;

  const inspect = async () => rehearse(['inspect', '--sandbox', '--new-bundle', '--json'], { cwd });
  const patchDeployment = (body: Record<string, unknown>) => api('PATCH', `/deployments/${deployment.id}`, body);

  beforeAll(async () => {
    cwd = await workspace();
    deployment = await api<DeploymentRecord>('GET', '/deployments/name/hotpass-backfill/hotpass-backfill');
  });

  afterAll(async () => {
    // Leave the shared sandbox healthy for the suites after this one.
    await patchDeployment({ concurrency_limit: 2, parameters: deployment.parameters });
  });

  it('passes on the healthy deployment and leaves deployment.json, notes.md and summary.json in a new bundle', async () => {
    const run = await inspect();
    const out = parseJson(run);
    expect(run.exitCode, run.stderr).toBe(0);
    expect(out.summary?.checks.map((c) => c.verdict)).toEqual(Array(7).fill('pass'));
    const dir = path.join(cwd, out.bundle as string);
    expect(path.basename(dir)).toMatch(/^\d{8}T\d{6}Z$/);
    for (const file of ['deployment.json', 'notes.md', 'summary.json', 'SHA256SUMS'])
      expect(await fs.pathExists(path.join(dir, file)), file).toBe(true);
    // Byte for byte as a GET of our own answers, once the values a polling worker moves on are set aside.
    const volatile = (text: string) => text.replace(/"(updated|last_polled|status)":("[^"]*"|null)/g, '"$1":_');
    const stored = await fs.readFile(path.join(dir, 'deployment.json'), 'utf8');
    const live = await apiText('/deployments/name/hotpass-backfill/hotpass-backfill');
    expect(volatile(stored)).toBe(volatile(live));
    expect(await fs.readFile(path.join(dir, 'notes.md'), 'utf8')).not.toContain('markup');
  });

  it('accepts the runbook bare name and a full flow/deployment name alike', async () => {
    const bare = parseJson(
      await rehearse(['inspect', '--sandbox', '--new-bundle', '--json', '--deployment', 'hotpass-backfill'], { cwd }),
    );
    const full = parseJson(
      await rehearse(
        ['inspect', '--sandbox', '--new-bundle', '--json', '--deployment', 'hotpass-backfill/hotpass-backfill'],
        { cwd },
      ),
    );
    expect(bare.exitCode).toBe(0);
    expect(full.exitCode).toBe(0);
    expect(bare.bundle).not.toBe(full.bundle);
  });

  const breakages: { name: string; check: string; apply: () => Promise<unknown>; restore: () => Promise<unknown> }[] = [
    {
      name: 'deployment limit changed',
      check: 'deployment.concurrency_limit',
      apply: () => patchDeployment({ concurrency_limit: 5 }),
      restore: () => patchDeployment({ concurrency_limit: 2 }),
    },
    {
      name: 'global limit disabled',
      check: 'global_limit',
      apply: () => prefect(['gcl', 'update', KEY, '--disable']),
      restore: () => prefect(['gcl', 'update', KEY, '--enable']),
    },
    {
      name: 'global limit deleted',
      check: 'global_limit',
      apply: () => prefect(['gcl', 'delete', KEY]),
      restore: () => prefect(['gcl', 'create', KEY, '--limit', '2']),
    },
    {
      name: 'concurrency_key default changed',
      check: 'parameters.concurrency_key',
      apply: () => patchDeployment({ parameters: { ...deployment.parameters, concurrency_key: 'someone-elses-key' } }),
      restore: () => patchDeployment({ parameters: deployment.parameters }),
    },
    {
      name: 'collision strategy switched to CANCEL_NEW',
      check: 'deployment.collision_strategy',
      apply: () => patchDeployment({ concurrency_options: { collision_strategy: 'CANCEL_NEW' } }),
      restore: () => patchDeployment({ concurrency_options: { collision_strategy: 'ENQUEUE' } }),
    },
    {
      name: 'concurrency_limit parameter changed',
      check: 'parameters.concurrency_limit',
      apply: () => patchDeployment({ parameters: { ...deployment.parameters, concurrency_limit: 8 } }),
      restore: () => patchDeployment({ parameters: deployment.parameters }),
    },
    {
      name: 'deployment moved to another work pool',
      check: 'deployment.work_pool',
      apply: async () => {
        await prefect(['work-pool', 'create', 'another-pool', '--type', 'process', '--overwrite']);
        return patchDeployment({ work_pool_name: 'another-pool' });
      },
      restore: () => patchDeployment({ work_pool_name: 'hotpass-backfill-pool' }),
    },
    {
      name: 'backfill flag flipped',
      check: 'parameters.pipeline.backfill',
      apply: () =>
        patchDeployment({
          parameters: {
            ...deployment.parameters,
            parameters: { pipeline: { ...deployment.parameters.parameters.pipeline, backfill: false } },
          },
        }),
      restore: () => patchDeployment({ parameters: deployment.parameters }),
    },
  ];

  for (const breakage of breakages) {
    it(`fails naming exactly ${breakage.check} when the ${breakage.name}, and passes once restored`, async () => {
      await breakage.apply();
      let broken: Awaited<ReturnType<typeof inspect>>;
      try {
        broken = await inspect();
      } finally {
        await breakage.restore();
      }
      const out = parseJson(broken);
      expect(broken.exitCode, broken.stderr).toBe(1);
      expect(failing(out)).toEqual([breakage.check]);
      const notes = await fs.readFile(path.join(cwd, out.bundle as string, 'notes.md'), 'utf8');
      expect(notes).toContain(breakage.check);

      const restored = await inspect();
      expect(restored.exitCode, restored.stdout).toBe(0);
    });
  }

  it('names the global limit check after `uv run prefect gcl update hotpass-backfill --disable`, in its human output', async () => {
    await prefect(['gcl', 'update', KEY, '--disable']);
    try {
      const run = await rehearse(['inspect', '--sandbox', '--new-bundle'], { cwd });
      expect(run.exitCode).toBe(1);
      expect(run.stdout).toMatch(
        /FAIL global concurrency limit of the concurrency key — global concurrency limit 'hotpass-backfill' is inactive/,
      );
    } finally {
      await prefect(['gcl', 'update', KEY, '--enable']);
    }
    expect((await sandbox()).apiUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/api$/);
  });

  it('a guardrail failed in inspect stays exit 1 when the run step then cannot run', async () => {
    await patchDeployment({ concurrency_options: { collision_strategy: 'CANCEL_NEW' } });
    try {
      // The run step refuses a parameter the deployment does not take (exit 2 on its own).
      const run = await rehearse(['backfill', '--sandbox', '--new-bundle', '--json', '--param', 'not_a_param=1'], {
        cwd,
      });
      const out = parseJson(run);
      expect(run.exitCode, run.stderr).toBe(1);
      expect(failing(out)).toEqual(['deployment.collision_strategy']);
      // The run step refused before it created anything (bad input writes no step record).
      expect(out.error?.code).toBe('USAGE');
      expect(out.error?.message).toContain('does not accept parameter(s) not_a_param');
      const steps = (out.summary?.steps ?? []).map((s) => `${s.name} ${s.status} ${s.verdict}`);
      expect(steps).toContain('inspect ok fail');
      expect(steps.some((s) => s.startsWith('run '))).toBe(false);
    } finally {
      await patchDeployment({ concurrency_options: { collision_strategy: 'ENQUEUE' } });
    }
  });
});
