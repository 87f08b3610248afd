import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import fs from 'fs-extra';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readPngSize } from '../../src/browser/screenshot.js';
import { openReport } from '../support/report-browser.js';
import { api, failing, type JsonOutput, parseJson, prefect, rehearse, sandbox, workspace } from './support.js';

const BUNDLE_FILES = [
  'render.log',
  'deployment.json',
  'hotpass-e2e-staging.log',
  'metadata.json',
  'state-history.json',
  'slot-history.json',
  'work-pool.json',
  'hotpass-e2e-staging.png',
  'notes.md',
  'summary.json',
  'SHA256SUMS',
  'report.html',
  'concurrency.svg',
];

const stepData = (out: JsonOutput, name: string): Record<string, unknown> =>
  out.summary?.steps.find((s) => s.name === name)?.data ?? {};

describe('rehearse backfill against the real sandbox', () => {
  let cwd: string;
  let deploymentId: string;
  /** The healthy rehearsal's bundle: the baseline the loosened one is compared with. */
  let firstBundle: string;

  beforeAll(async () => {
    cwd = await workspace();
    deploymentId = (await api<{ id: string }>('GET', '/deployments/name/hotpass-backfill/hotpass-backfill')).id;
  });

  it('exits 0 with a complete bundle: every file present and parseable, the run page captured, peak equal to the limit under a burst of limit + 1', async () => {
    // Signed as CI signs: a key outside the evidence, named by the environment.
    const keys = await fs.mkdtemp(path.join(os.tmpdir(), 'rehearse-e2e-keys-'));
    expect((await rehearse(['keygen', '--out', keys], { cwd })).exitCode).toBe(0);
    const run = await rehearse(['backfill', '--sandbox', '--json', '--to', path.join(cwd, 'shared')], {
      cwd,
      env: { REHEARSE_SIGNING_KEY_FILE: path.join(keys, 'rehearse-signing.key.pem') },
    });
    const out = parseJson(run);
    expect(run.exitCode, `${run.stderr}\n${JSON.stringify(out.summary?.checks, null, 1)}`).toBe(0);
    expect(out.summary).toMatchObject({ status: 'complete', verdict: 'pass' });
    firstBundle = out.bundle as string;
    const dir = path.join(cwd, out.bundle as string);
    for (const file of BUNDLE_FILES) expect(await fs.pathExists(path.join(dir, file)), file).toBe(true);
    for (const file of BUNDLE_FILES.filter((f) => f.endsWith('.json'))) await fs.readJson(path.join(dir, file));
    const size = readPngSize(await fs.readFile(path.join(dir, 'hotpass-e2e-staging.png')));
    expect(size).toEqual({ width: 1440, height: 900 });

    const runData = stepData(out, 'run');
    expect(runData.burst).toBe(3);
    expect((runData.flowRunIds as string[]).length).toBe(3);
    expect(stepData(out, 'validate').peak).toBe(2);
    // The sandbox's quick timing: each run's engine forked from the warm flow starter.
    const starter = (await sandbox()).flowStarter;
    const forked = await fs.readFile(starter?.log ?? '', 'utf8');
    for (const id of runData.flowRunIds as string[]) expect(forked).toContain(`flow run ${id}: child `);
    const history = await fs.readJson(path.join(dir, 'state-history.json'));
    expect(history.runs.filter((r: { rehearsal: boolean }) => r.rehearsal)).toHaveLength(3);
    expect(await fs.readFile(path.join(dir, 'hotpass-e2e-staging.log'), 'utf8')).toMatch(/└── UUID: [0-9a-f-]{36}/);

    // The report: offline in Chromium, one row per run, the limit at 2 and nothing above it.
    const shown = await openReport(path.join(dir, 'report.html'));
    expect(shown.consoleErrors).toEqual([]);
    expect(shown.requests).toEqual([pathToFileURL(path.join(dir, 'report.html')).href]);
    expect(shown.runs).toBe(history.runs.length);
    expect(shown.limits).toEqual(['2']);
    expect(shown.overflows).toEqual([]);
    // No false note: the CLI and API reads a moment apart (slots taken in between) are no markup damage.
    expect(await fs.readFile(path.join(dir, 'notes.md'), 'utf8')).not.toContain('markup');
    // Occupied slots of the global limit, from slot-history.json, beside the RUNNING count.
    const svgText = await fs.readFile(path.join(dir, 'concurrency.svg'), 'utf8');
    expect(svgText).toContain('<path class="slots"');
    expect(svgText).toContain('occupied slots of</tspan><tspan x="4" dy="13">hotpass-backfill (peak 2)</tspan>');
    // A copy elsewhere, reported again with no server in sight, gives the same file.
    const copy = path.join(cwd, 'copied', path.basename(dir));
    await fs.copy(dir, copy);
    const again = await rehearse(['report', copy, '--json'], {
      cwd,
      env: { PREFECT_API_URL: 'http://127.0.0.1:9/api' },
    });
    expect(again.exitCode, again.stdout).toBe(0);
    expect(await fs.readFile(path.join(copy, 'report.html'), 'utf8')).toBe(
      await fs.readFile(path.join(dir, 'report.html'), 'utf8'),
    );

    // The far copy is the final bundle, and the ledgers link it once.
    const far = path.join(cwd, 'shared', path.basename(dir));
    expect(await fs.readFile(path.join(far, 'summary.json'), 'utf8')).toBe(
      await fs.readFile(path.join(dir, 'summary.json'), 'utf8'),
    );
    expect(
      (await fs.readFile(path.join(cwd, 'Next_Steps_Log.md'), 'utf8'))
        .split('\n')
        .filter((line) => line.includes(path.basename(dir))),
    ).toHaveLength(1);
    expect(
      (await fs.readFile(path.join(cwd, 'docs/operations/staging-rehearsal-plan.md'), 'utf8'))
        .split('\n')
        .filter((line) => line.includes(path.basename(dir))),
    ).toHaveLength(1);

    // The far copy carries the signed attestation of the settled bundle; the reviewer's check passes.
    expect((await fs.readJson(path.join(dir, 'summary.json'))).attestation).toMatchObject({ signed: true });
    const reviewed = await rehearse(['verify', far, '--key', path.join(keys, 'rehearse-signing.pub.pem')], { cwd });
    expect(reviewed.exitCode, reviewed.stdout).toBe(0);
    expect(reviewed.stdout).toContain('the signature verifies with the given key');
    await fs.remove(keys);
  });

  it('verify passes the healthy bundle and fails it once deployment.json is edited, even with SHA256SUMS recomputed', async () => {
    const dir = path.join(cwd, firstBundle);
    const clean = await rehearse(['verify', dir, '--json'], { cwd });
    expect(clean.exitCode, clean.stdout).toBe(0);
    const file = path.join(dir, 'deployment.json');
    const record = await fs.readJson(file);
    record.global_concurrency_limit.limit = 4;
    record.concurrency_options = { collision_strategy: 'CANCEL_NEW' };
    await fs.writeFile(file, `${JSON.stringify(record, null, 2)}\n`);
    // Recompute the checksums as someone covering their tracks would.
    const sums = (await fs.readFile(path.join(dir, 'SHA256SUMS'), 'utf8')).split('\n').filter(Boolean);
    const { createHash } = await import('node:crypto');
    const digest = createHash('sha256')
      .update(await fs.readFile(file))
      .digest('hex');
    await fs.writeFile(
      path.join(dir, 'SHA256SUMS'),
      `${sums.map((line) => (line.endsWith('  deployment.json') ? `${digest}  deployment.json` : line)).join('\n')}\n`,
    );
    const tampered = await rehearse(['verify', dir, '--json'], { cwd });
    expect(tampered.exitCode, tampered.stdout).toBe(1);
    expect(tampered.stdout).toContain('deployment.concurrency_limit');
  });

  describe('with the limits loosened on the server', () => {
    beforeAll(async () => {
      await api('PATCH', `/deployments/${deploymentId}`, { concurrency_limit: 4 });
      await prefect(['work-pool', 'set-concurrency-limit', 'hotpass-backfill-pool', '4']);
      await prefect(['gcl', 'update', 'hotpass-backfill', '--disable']);
    });
    afterAll(async () => {
      await api('PATCH', `/deployments/${deploymentId}`, { concurrency_limit: 2 });
      await prefect(['work-pool', 'set-concurrency-limit', 'hotpass-backfill-pool', '2']);
      await prefect(['gcl', 'update', 'hotpass-backfill', '--enable']);
    });

    it('a burst of 4 runs more at once: exit 1, the guardrail and the overlapping runs named, one task in Next_Steps.md', async () => {
      const run = await rehearse(
        ['backfill', '--sandbox', '--json', '--burst', '4', '--param', 'day_seconds=2', '--watch-timeout', '240'],
        { cwd },
      );
      const out = parseJson(run);
      expect(run.exitCode, run.stderr).toBe(1);
      const validate = stepData(out, 'validate');
      expect(validate.peak as number).toBeGreaterThan(2);
      expect(failing(out)).toContain('concurrency.manifest_limit');
      // Against the last passing rehearsal of this deployment (the healthy one above), by name.
      const pool = out.summary?.checks.find((c) => c.id === 'baseline.work_pool_limit');
      expect(pool?.verdict).toBe('fail');
      expect(pool?.reason).toContain('work-pool limit changed 2 → 4');
      expect(pool?.reason).toContain(path.basename(firstBundle));
      expect(failing(out)).toContain('baseline.deployment_limit');
      const check = out.summary?.checks.find((c) => c.id === 'concurrency.manifest_limit');
      const ids = stepData(out, 'run').flowRunIds as string[];
      const history = await fs.readJson(path.join(cwd, out.bundle as string, 'state-history.json'));
      const names = history.runs
        .filter((r: { runId: string }) => ids.includes(r.runId))
        .map((r: { runName?: string; runId: string }) => r.runName ?? r.runId);
      expect(names.filter((name: string) => check?.reason.includes(name)).length).toBeGreaterThan(2);

      // The report shades the stretch above the manifest's limit of 2 and names the runs in it.
      const shown = await openReport(path.join(cwd, out.bundle as string, 'report.html'));
      expect(shown.consoleErrors).toEqual([]);
      expect(shown.runs).toBe(history.runs.length);
      const above2 = shown.overflows.filter((o) => o.limit === '2');
      expect(above2.length).toBeGreaterThan(0);
      expect(above2[0]?.runs?.split(' ').filter((id) => ids.includes(id)).length).toBeGreaterThan(2);

      const tasks = (await fs.readFile(path.join(cwd, 'Next_Steps.md'), 'utf8'))
        .split('\n')
        .filter((l) => l.startsWith('- [ ] **QA** — Backfill guardrail violated'));
      expect(tasks).toHaveLength(1);

      // Validating the same runs again (a rerun by hand, in a new bundle) adds no second task.
      const again = await rehearse(
        ['validate', '--sandbox', '--json', '--new-bundle', ...ids.flatMap((id) => ['--flow-run', id])],
        { cwd },
      );
      expect(again.exitCode, again.stdout).toBe(1);
      const after = (await fs.readFile(path.join(cwd, 'Next_Steps.md'), 'utf8'))
        .split('\n')
        .filter((l) => l.startsWith('- [ ] **QA** — Backfill guardrail violated'));
      expect(after).toEqual(tasks);
    });
  });

  it('a single run leaves the concurrency guardrail inconclusive, never a pass', async () => {
    const run = await rehearse(
      [
        'run',
        '--sandbox',
        '--json',
        '--new-bundle',
        '--since',
        '2024-01-01',
        '--until',
        '2024-01-01',
        '--watch-timeout',
        '180',
      ],
      { cwd },
    );
    expect(run.exitCode, run.stdout).toBe(0);
    // capture by hand, naming the run: it takes its own screenshot of the run page
    const runId = (
      parseJson(run).summary!.steps.find((s) => s.name === 'run')!.data!.flowRunIds as string[]
    )[0] as string;
    const capture = await rehearse(['capture', '--sandbox', '--json', '--flow-run', runId], { cwd });
    const captured = parseJson(capture);
    expect(capture.exitCode, capture.stdout).toBe(0);
    expect(captured.summary?.checks.find((c) => c.id === 'evidence.screenshot')?.reason).not.toContain(
      'taken as the run ended',
    );
    expect(
      readPngSize(await fs.readFile(path.join(cwd, captured.bundle as string, 'hotpass-e2e-staging.png'))),
    ).toEqual({ width: 1440, height: 900 });
    const validate = await rehearse(['validate', '--sandbox', '--json'], { cwd });
    const out = parseJson(validate);
    expect(validate.exitCode).toBe(4);
    expect(out.summary?.checks.find((c) => c.id === 'concurrency.manifest_limit')?.verdict).toBe('inconclusive');
  });
});
