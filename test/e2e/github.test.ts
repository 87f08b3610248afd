import path from 'node:path';
import fs from 'fs-extra';
import { marked } from 'marked';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { prefect, rehearse, sandbox, workspace } from './support.js';

/** A whole rehearsal as a GitHub runner runs it: GITHUB_ACTIONS=true, the step summary a temp file. */
describe('rehearse backfill under GitHub Actions, on the real sandbox', () => {
  let cwd: string;
  let env: Record<string, string>;
  let summaryFile: string;

  beforeAll(async () => {
    cwd = await workspace();
    summaryFile = path.join(cwd, 'step-summary.md');
    // The sandbox's project stands for the checked-out repository, so annotations name its manifest.
    env = { GITHUB_ACTIONS: 'true', GITHUB_STEP_SUMMARY: summaryFile, GITHUB_WORKSPACE: (await sandbox()).projectDir };
  });
  afterAll(async () => {
    await prefect(['gcl', 'update', 'hotpass-backfill', '--limit', '2']);
    await prefect(['gcl', 'update', 'hotpass-backfill', '--active-slots', '0']);
  });

  it('a healthy rehearsal: the job summary names the verdict and the bundle, and no annotation is printed', async () => {
    const run = await rehearse(['backfill', '--sandbox', '--watch-timeout', '240'], { cwd, env });
    expect(run.exitCode, run.stderr).toBe(0);
    expect(run.stdout).not.toMatch(/^::(error|warning)/m);
    const html = await marked.parse(await fs.readFile(summaryFile, 'utf8'));
    expect(html).toContain('<strong>PASS: pass: every guardrail held (exit 0)</strong>');
    expect(html).toMatch(/Bundle: <code>[^<]+<\/code> \(complete\)/);
    expect(html).toMatch(/<td><code>concurrency.deployment_limit<\/code><\/td>\s*<td>2<\/td>\s*<td>2<\/td>/);
  });

  it('a loosened global limit: the summary names the failed check, and ::error points at the manifest line', async () => {
    const before = await fs.readFile(summaryFile, 'utf8');
    await prefect(['gcl', 'update', 'hotpass-backfill', '--limit', '1']);
    const run = await rehearse(['backfill', '--sandbox', '--watch-timeout', '240'], { cwd, env });
    expect(run.exitCode, run.stderr).toBe(1);
    const markdown = await fs.readFile(summaryFile, 'utf8');
    expect(markdown.startsWith(before)).toBe(true);
    const html = await marked.parse(markdown.slice(before.length));
    expect(html).toContain('<strong>FAIL: a guardrail failed: the release is halted (exit 1)</strong>');
    expect(html).toMatch(/<td><code>global_limit<\/code><\/td>\s*<td>FAIL<\/td>/);
    expect(html).toMatch(/Bundle: <code>[^<]+<\/code>/);
    const annotations = run.stdout.split('\n').filter((line) => line.startsWith('::'));
    expect(annotations).toContainEqual(
      expect.stringMatching(/^::error file=prefect\/deployments\/hotpass-backfill\.yaml,line=\d+,title=global_limit::/),
    );
  });
});
