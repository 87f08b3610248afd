import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Summary, SummarySchema } from '../../../src/bundle/summary.js';
import type { Check } from '../../../src/guardrails/verdict.js';
import type { CommandResult } from '../../../src/reporters/events.js';
import { createGithubReporter, escapeProperty, findKeyLine } from '../../../src/reporters/github.js';
import { createRedactor, MASK } from '../../../src/secrets/redact.js';

const SECRET = 'pnu_3f9a1c2b7d4e5f60718293a4';
const redact = createRedactor([SECRET]);
const MANIFEST = `id: backfill
name: hotpass-backfill
work_pool: hotpass-backfill-pool
parameters:
  parameters:
    pipeline:
      backfill: true
  concurrency_limit: 2
  concurrency_key: hotpass-backfill
concurrency_limit: 2
collision_strategy: ENQUEUE
`;

const RECORDED = readFileSync(path.resolve('fixtures/bundles/complete/summary.json'), 'utf8');
const recorded = (): Summary => SummarySchema.parse(JSON.parse(RECORDED));

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'rehearse-github-'));
  await mkdir(path.join(dir, 'project', 'prefect', 'deployments'), { recursive: true });
  await writeFile(path.join(dir, 'project', 'prefect', 'deployments', 'hotpass-backfill.yaml'), MANIFEST);
});
afterEach(() => rm(dir, { recursive: true, force: true }));

const FAILED: Record<string, Pick<Check, 'verdict' | 'reason'>> = {
  'concurrency.deployment_limit': { verdict: 'fail', reason: 'peak 3 runs RUNNING, limit 2: 100% over,\nsee windows' },
  global_limit: {
    verdict: 'fail',
    reason: `'hotpass/backfill' is refused; fix: prefect gcl create x --limit 2 token=${SECRET}`,
  },
  'runs.settled': { verdict: 'inconclusive', reason: '1 run(s) not finished: rare-hound Pending' },
};

/** The recorded healthy bundle with three checks turned bad and a drift since the last pass. */
function failing(): Summary {
  const base = recorded();
  const turn = (c: Check): Check => ({ ...c, ...(FAILED[c.id] ?? {}) });
  const drift: Check = {
    id: 'baseline.deployment_limit',
    step: 'validate',
    title: 'deployment limit unchanged since the last pass',
    verdict: 'fail',
    reason: 'deployment limit 2 → 5 since 20261125T090000Z, the last passing rehearsal: restore it',
  };
  const steps = base.steps.map((s) => ({
    ...s,
    checks: s.checks.map(turn),
    ...(s.name === 'validate' ? { data: { ...s.data, peak: 3, baseline: '20261125T090000Z' } } : {}),
  }));
  return {
    ...base,
    verdict: 'fail',
    exitCode: 1,
    target: { ...base.target, projectDir: path.join(dir, 'project') },
    steps,
    checks: [...base.checks.map(turn), drift],
  };
}

async function run(result: CommandResult, env: NodeJS.ProcessEnv, annotations = true) {
  const [stdout, stderr] = [new PassThrough(), new PassThrough()];
  const chunks: string[] = [];
  const errors: string[] = [];
  stdout.on('data', (b) => chunks.push(String(b)));
  stderr.on('data', (b) => errors.push(String(b)));
  const reporter = createGithubReporter({ env, stdout, stderr, redact, annotations, cwd: dir });
  reporter.emit({ type: 'done', result });
  await reporter.close();
  return { stdout: chunks.join(''), stderr: errors.join('') };
}

const resultOf = (summary: Summary): CommandResult => ({
  command: 'backfill',
  exitCode: summary.exitCode,
  verdict: summary.verdict === 'incomplete' ? 'inconclusive' : summary.verdict,
  bundle: `dist/staging/backfill/${summary.bundle}`,
  summary,
});

describe('the GitHub reporter', () => {
  it('appends a job summary naming the verdict, every failed check, the peak, the bundle and the drift', async () => {
    const file = path.join(dir, 'step-summary.md');
    await writeFile(file, 'an earlier step wrote this\n');
    const env = { GITHUB_STEP_SUMMARY: file, GITHUB_WORKSPACE: dir };
    await run(resultOf(failing()), env);
    const md = await readFile(file, 'utf8');
    expect(md.startsWith('an earlier step wrote this\n')).toBe(true);
    const body = md.slice('an earlier step wrote this\n'.length);
    expect(body.split('\n').slice(0, 3).join('\n')).toContain(
      '**FAIL: a guardrail failed: the release is halted (exit 1)**',
    );
    for (const id of Object.keys(FAILED)) expect(body).toContain(`\`${id}\``);
    expect(body).toContain(
      "| `global_limit` | FAIL | 'hotpass/backfill' is refused | `prefect gcl create x --limit 2 token=",
    );
    expect(body).toContain('100% over, see windows');
    expect(body).toContain('| `concurrency.deployment_limit` | 3 | 2 | FAIL |');
    expect(body).toContain('Bundle: `dist/staging/backfill/20261126T013217Z` (complete)');
    expect(body).toMatch(
      /Drift since the last passing bundle\n\n- `baseline.deployment_limit`: deployment limit 2 → 5/,
    );
    expect(body).not.toContain(SECRET);
    expect(body).toContain(MASK);
    // Appended, never overwritten: a second command adds its own.
    await run(resultOf(failing()), env);
    expect((await readFile(file, 'utf8')).split('## rehearse backfill').length).toBe(3);
  });

  it('writes ::error and ::warning lines at the manifest line, escaped, masked', async () => {
    const { stdout } = await run(resultOf(failing()), { GITHUB_WORKSPACE: dir });
    const lines = stdout.trimEnd().split('\n');
    const manifest = 'project/prefect/deployments/hotpass-backfill.yaml';
    expect(lines).toEqual([
      `::error file=${manifest},line=8,title=global_limit::'hotpass/backfill' is refused; fix: prefect gcl create x --limit 2 token=${MASK}`,
      `::error file=${manifest},line=10,title=concurrency.deployment_limit::peak 3 runs RUNNING, limit 2: 100%25 over,%0Asee windows`,
      '::warning title=runs.settled::1 run(s) not finished: rare-hound Pending',
      `::error file=${manifest},line=10,title=baseline.deployment_limit::deployment limit 2 → 5 since 20261125T090000Z, the last passing rehearsal: restore it`,
    ]);
  });

  it('says nothing on stdout for a healthy run, and nothing at all with --json but the summary', async () => {
    const file = path.join(dir, 'step-summary.md');
    const healthy = await run(resultOf(recorded()), { GITHUB_STEP_SUMMARY: file });
    expect(healthy.stdout).toBe('');
    expect(await readFile(file, 'utf8')).toContain('**PASS: pass: every guardrail held (exit 0)**');
    const json = await run(resultOf(failing()), { GITHUB_STEP_SUMMARY: file }, false);
    expect(json.stdout).toBe('');
    expect(await readFile(file, 'utf8')).toContain('**FAIL');
  });

  it("sets the step's outputs when the runner gives an output file: the verdict, the exit code, the bundle made absolute", async () => {
    const file = path.join(dir, 'github-output');
    await writeFile(file, 'earlier=kept\n');
    await run(resultOf(failing()), { GITHUB_OUTPUT: file });
    expect(await readFile(file, 'utf8')).toBe(
      `earlier=kept\nverdict=fail\nexit-code=1\nbundle=${path.join(dir, 'dist/staging/backfill/20261126T013217Z')}\n`,
    );
  });

  it('warns, and goes on, when the summary file is unset or cannot be written', async () => {
    expect((await run(resultOf(recorded()), {})).stderr).toContain('GITHUB_STEP_SUMMARY is not set');
    const unwritable = await run(resultOf(recorded()), { GITHUB_STEP_SUMMARY: path.join(dir, 'no', 'such', 'dir') });
    expect(unwritable.stderr).toContain('GitHub job summary not written');
  });
});

describe('workflow command pieces', () => {
  it("escapes a property's % CR LF , and :", () => {
    expect(escapeProperty('a%b\r\nc,d:e')).toBe('a%25b%0D%0Ac%2Cd%3Ae');
  });

  it('finds a key by its dotted path, top level before nested', () => {
    expect(findKeyLine(MANIFEST, 'concurrency_limit')).toBe(10);
    expect(findKeyLine(MANIFEST, 'parameters.concurrency_limit')).toBe(8);
    expect(findKeyLine(MANIFEST, 'parameters.pipeline.backfill')).toBe(7);
    expect(findKeyLine(MANIFEST, 'parameters.nope')).toBeUndefined();
  });
});
