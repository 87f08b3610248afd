import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import fs from 'fs-extra';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';

const repo = path.resolve(import.meta.dirname, '..', '..', '..');
const FIXTURE = path.join(repo, 'fixtures/bundles/complete');
const bin = path.join(repo, 'bin/rehearse.js');

let work: string;
let bundle: string;
let summaryFile: string;
beforeEach(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'rehearse-github-cli-'));
  bundle = path.join(work, '20261126T013217Z');
  summaryFile = path.join(work, 'step-summary.md');
  await fs.copy(FIXTURE, bundle);
});
afterEach(() => rm(work, { recursive: true, force: true }));

/** The built CLI with GitHub's variables as the test sets them, none inherited from wherever the tests run. */
function run(args: string[], env: Record<string, string>) {
  const { GITHUB_ACTIONS: _a, GITHUB_STEP_SUMMARY: _s, GITHUB_WORKSPACE: _w, ...inherited } = process.env;
  return execa('node', [bin, ...args], {
    reject: false,
    env: { ...inherited, CI: '1', ...env },
    extendEnv: false,
    cwd: work,
  });
}

describe('the GitHub job summary from the built CLI', () => {
  beforeAll(async () => {
    const [built, source] = await Promise.all([
      stat(path.join(repo, 'dist/reporters/github.js')).catch(() => undefined),
      stat(path.join(repo, 'src/reporters/github.ts')),
    ]);
    if (!built || built.mtimeMs < source.mtimeMs) throw new Error('dist/ is older than src/: run npm run build first');
  });

  it('is appended under GITHUB_ACTIONS=true, and --json keeps stdout one JSON document', async () => {
    const env = { GITHUB_ACTIONS: 'true', GITHUB_STEP_SUMMARY: summaryFile };
    const ok = await run(['verify', bundle], env);
    expect(ok.exitCode).toBe(0);
    expect(ok.stdout).not.toMatch(/^::/m);
    const first = await readFile(summaryFile, 'utf8');
    expect(first).toContain('## rehearse verify');
    expect(first).toContain('**PASS: pass: every guardrail held (exit 0)**');
    expect(first).toContain(`Bundle: \`${bundle}\``);

    await writeFile(path.join(bundle, 'deployment.json'), '{"concurrency_limit": 99}\n');
    const changed = await run(['verify', bundle, '--json'], env);
    expect(changed.exitCode).toBe(1);
    expect(JSON.parse(changed.stdout)).toMatchObject({ command: 'verify', exitCode: 1 });
    const both = await readFile(summaryFile, 'utf8');
    expect(both.startsWith(first)).toBe(true);
    expect(both.slice(first.length)).toMatch(/\*\*FAIL: .*\(exit 1\)\*\*/);
  });

  it('is asked for by --github anywhere, and warns when there is nowhere to write it', async () => {
    const flagged = await run(['verify', bundle, '--github'], {});
    expect(flagged.exitCode).toBe(0);
    expect(flagged.stderr).toContain('GitHub job summary not written: GITHUB_STEP_SUMMARY is not set');
    const plain = await run(['verify', bundle], { GITHUB_STEP_SUMMARY: summaryFile });
    expect(plain.stderr).not.toContain('GitHub');
    await expect(stat(summaryFile)).rejects.toThrow();
  });
});
