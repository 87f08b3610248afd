import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import fs from 'fs-extra';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

const repo = path.resolve(import.meta.dirname, '..', '..', '..');
const SCRIPT = path.join(repo, 'scripts/action-run.sh');
const FIXTURE = path.join(repo, 'fixtures/bundles/complete');

let work: string;
let outputFile: string;
let summaryFile: string;
beforeEach(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'rehearse-action-'));
  outputFile = path.join(work, 'github-output');
  summaryFile = path.join(work, 'step-summary.md');
  // The runner creates both files empty before the step starts.
  await writeFile(outputFile, '');
  await writeFile(summaryFile, '');
});
afterEach(() => rm(work, { recursive: true, force: true }));

/** The action's run step as the runner starts it: bash, the inputs as INPUT_*, the output and summary files. */
function runStep(inputs: Record<string, string>, env: Record<string, string> = {}) {
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('GITHUB_')));
  return execa('bash', [SCRIPT], {
    reject: false,
    extendEnv: false,
    cwd: work,
    env: {
      ...inherited,
      CI: 'true',
      GITHUB_ACTIONS: 'true',
      GITHUB_OUTPUT: outputFile,
      GITHUB_STEP_SUMMARY: summaryFile,
      GITHUB_WORKSPACE: work,
      GITHUB_ACTION_PATH: repo,
      ...inputs,
      ...env,
    },
  });
}

/** The step's outputs as the runner reads them: key=value lines, the last one of a key winning. */
async function outputs(): Promise<Record<string, string>> {
  const lines = (await readFile(outputFile, 'utf8')).split('\n').filter(Boolean);
  return Object.fromEntries(lines.map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]));
}

describe("the action's run step (scripts/action-run.sh)", () => {
  it('verifies a bundle in the working directory: outputs pass, exit code 0 and the bundle, and the job summary', async () => {
    await fs.copy(FIXTURE, path.join(work, 'project', 'bundle'));
    const step = await runStep({ INPUT_COMMAND: 'verify bundle', INPUT_WORKING_DIRECTORY: 'project' });
    expect(step.exitCode, step.stderr).toBe(0);
    expect(await outputs()).toEqual({
      verdict: 'pass',
      'exit-code': '0',
      bundle: path.join(work, 'project', 'bundle'),
    });
    expect(await readFile(summaryFile, 'utf8')).toContain('## rehearse verify');
  });

  it("passes on doctor's exit code 3 against an API nobody answers, and names it in the outputs", async () => {
    const step = await runStep({ INPUT_COMMAND: 'doctor' }, { PREFECT_API_URL: 'http://127.0.0.1:9/api' });
    expect(step.exitCode).toBe(3);
    expect(await outputs()).toMatchObject({ 'exit-code': '3' });
    expect(await readFile(summaryFile, 'utf8')).toContain('## rehearse doctor');
  });

  it('still sets verdict and exit-code when rehearse stops before its reporter runs (an unknown command)', async () => {
    const step = await runStep({ INPUT_COMMAND: 'no-such-command' });
    expect(step.exitCode).toBe(2);
    expect(await outputs()).toEqual({ verdict: 'error', 'exit-code': '2' });
  });

  it('passes config, upload target and signing key on as flags, relative to the working directory', async () => {
    const step = await runStep({
      INPUT_COMMAND: 'backfill --dry-run',
      INPUT_CONFIG: 'missing.yaml',
      INPUT_UPLOAD_TO: 'far',
      INPUT_SIGNING_KEY_FILE: 'key.pem',
    });
    expect(step.stdout).toContain(
      'rehearse backfill --dry-run --github --config missing.yaml --to far --signing-key key.pem',
    );
    // The config file is looked for first, and its absence is a usage error.
    expect(step.exitCode).toBe(2);
    expect(await outputs()).toMatchObject({ 'exit-code': '2' });
  });
});
