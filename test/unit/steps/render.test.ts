import { cp, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RUNBOOK_RENDER_COMMAND, type ConfigInput } from '../../../src/config/schema.js';
import { createBundle, type Bundle } from '../../../src/evidence/bundle.js';
import { NOTES_FILE } from '../../../src/evidence/notes.js';
import { createRedactor } from '../../../src/evidence/redact.js';
import { newSummary } from '../../../src/evidence/summary-io.js';
import type { PrefectApi } from '../../../src/prefect/api.js';
import { RENDER_LOG, renderStep, SPECS_FILE } from '../../../src/steps/render.js';
import { runSteps } from '../../../src/steps/runner.js';
import { createTestContext, HOTPASS_DIR } from '../../support/context.js';
import { createFakeApi, recordedRoutes, UNREACHABLE } from '../../support/fake-api.js';
import { createFakeRunner, type FakeResult } from '../../support/fake-runner.js';

const NOW = new Date('2026-11-26T01:20:00Z');
/** The stand-in hotpass's real output for the runbook's render command, recorded once. */
const DRY_RUN_STDOUT = await readFile(fileURLToPath(new URL('../../../fixtures/hotpass-render/dry-run.stdout', import.meta.url)), 'utf8');
const RENDER_OK: FakeResult = { exitCode: 0, stdout: DRY_RUN_STDOUT, stderr: '' };
const STAGING_REL = 'prefect/staging/backfill.yaml';

let root: string;
let projectDir: string;
let bundle: Bundle;
beforeEach(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'rehearse-render-'));
  projectDir = path.join(root, 'project');
  await cp(path.join(HOTPASS_DIR, 'prefect'), path.join(projectDir, 'prefect'), { recursive: true });
  bundle = await createBundle(path.join(root, 'evidence'), NOW, createRedactor([]));
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

async function editStaging(from: RegExp, to: string): Promise<void> {
  const file = path.join(projectDir, STAGING_REL);
  const text = await readFile(file, 'utf8');
  const next = text.replace(from, to);
  expect(next).not.toBe(text);
  await writeFile(file, next);
}

/** Runs the render step as `rehearse render` does: one step, through the runner, into the bundle. */
async function render(options: { result?: FakeResult; api?: PrefectApi; config?: ConfigInput } = {}) {
  const argv = options.config?.render?.command ?? RUNBOOK_RENDER_COMMAND;
  const runner = createFakeRunner([{ match: argv, result: options.result ?? RENDER_OK }]);
  const ctx = createTestContext({
    runner, api: options.api ?? createFakeApi(recordedRoutes()), now: () => NOW, redact: bundle.redact, projectDir,
    ...(options.config ? { config: options.config } : {}),
  });
  const outcome = await runSteps(ctx, bundle, [renderStep], newSummary(bundle, NOW, { deployment: ctx.config.deployment }), { wholeRehearsal: false });
  const step = outcome.summary.steps.find((s) => s.name === 'render');
  if (!step) throw new Error('runSteps recorded no render step');
  return { outcome, step, runner };
}

const file = (rel: string) => readFile(path.join(bundle.dir, rel), 'utf8');

describe('the render step, against the stand-in hotpass manifests and the recorded Prefect 3.9.1 deployment', () => {
  it('keeps the dry run output and the rendered manifests, and notes no drift', async () => {
    const { outcome, step, runner } = await render();

    expect(outcome.error).toBeUndefined();
    expect([step.status, step.verdict, step.checks]).toEqual(['ok', 'pass', []]);
    expect(runner.calls).toEqual([expect.objectContaining({
      file: 'uv', args: RUNBOOK_RENDER_COMMAND.slice(1), cwd: projectDir, readOnly: true, timeoutMs: 120_000,
    })]);
    expect(await file(RENDER_LOG)).toBe(DRY_RUN_STDOUT);
    expect(await file('rendered/backfill.yaml')).toBe(await readFile(path.join(projectDir, STAGING_REL), 'utf8'));
    const specs = JSON.parse(await file(SPECS_FILE)) as Record<string, unknown>[];
    expect(specs).toEqual([expect.objectContaining({ name: 'hotpass-backfill', concurrency_limit: { collision_strategy: 'ENQUEUE', limit: 2 }, source: STAGING_REL })]);

    const notes = await file(NOTES_FILE);
    expect(notes).toContain('No drift: the repository manifest `prefect/deployments/hotpass-backfill.yaml`, the staging render `prefect/staging/backfill.yaml`');
    expect(notes).toContain(`Render command \`${RUNBOOK_RENDER_COMMAND.join(' ')}\` exited 0`);
    expect(step.files).toEqual([RENDER_LOG, 'rendered/backfill.yaml', SPECS_FILE, NOTES_FILE]);
    expect(step.data).toEqual({
      command: RUNBOOK_RENDER_COMMAND, exitCode: 0, renderedFiles: ['rendered/backfill.yaml', SPECS_FILE], drift: 0, driftedKeys: [],
    });
  });

  it('tabulates a limit the staging overlay changed', async () => {
    await editStaging(/^concurrency_limit: 2$/m, 'concurrency_limit: 3');
    const { step } = await render();

    expect([step.status, step.verdict]).toEqual(['ok', 'pass']);
    const notes = await file(NOTES_FILE);
    expect(notes).toContain('| key | repository | staging render | live |');
    expect(notes).toContain('| deployment.concurrency_limit | 2 | 3 | 2 |');
    expect(notes).not.toContain('No drift');
    expect(step.data).toMatchObject({ drift: 1, driftedKeys: ['deployment.concurrency_limit'] });
  });

  it('names the options an older hotpass rejects, points at render.command, and still keeps render.log', async () => {
    const stderr = 'usage: hotpass [-h] {deploy} ...\nhotpass: error: unrecognized arguments: --no-upload --dry-run\n';
    const api = createFakeApi(recordedRoutes());
    const { outcome, step } = await render({ result: { exitCode: 2, stdout: '', stderr }, api });

    expect(outcome.error?.code).toBe('COMMAND_FAILED');
    expect(outcome.error?.exitCode).toBe(3);
    expect(outcome.error?.message).toBe("the render command's hotpass does not accept --no-upload, --dry-run");
    expect(outcome.error?.hint).toContain('render.command');
    expect(outcome.error?.details).toContain('hotpass: error: unrecognized arguments: --no-upload --dry-run');
    expect([step.status, step.error?.code]).toEqual(['error', 'COMMAND_FAILED']);
    expect(step.data).toMatchObject({ exitCode: 2, files: [RENDER_LOG] });
    expect(await file(RENDER_LOG)).toBe(stderr);
    expect(await readdir(bundle.dir)).not.toContain('rendered');
    expect(api.requests).toEqual([]);
  });

  it('fails any other non-zero exit of a configured command with the tail of its output and render.log to read', async () => {
    const command = ['uv', 'run', 'hotpass', 'deploy', '--manifest-dir', 'prefect/nope', '--flow', 'backfill', '--dry-run'];
    const stderr = 'hotpass: manifest directory not found: /srv/hotpass/prefect/nope\n';
    const { outcome, runner } = await render({ config: { render: { command } }, result: { exitCode: 1, stdout: '', stderr } });

    expect(runner.calls.map((c) => [c.file, ...c.args])).toEqual([command]);
    expect(outcome.error?.code).toBe('COMMAND_FAILED');
    expect(outcome.error?.message).toBe('the render command exited 1');
    expect(outcome.error?.details).toEqual(['hotpass: manifest directory not found: /srv/hotpass/prefect/nope']);
    expect(outcome.error?.hint).toContain(RENDER_LOG);
    expect(await file(RENDER_LOG)).toBe(stderr);
  });

  it('stops with API_UNREACHABLE when the server does not answer, after keeping what was rendered', async () => {
    const { outcome, step } = await render({ api: createFakeApi({}, { fallback: UNREACHABLE }) });

    expect(outcome.error?.code).toBe('API_UNREACHABLE');
    expect([step.status, step.error?.code]).toEqual(['error', 'API_UNREACHABLE']);
    expect(await file(RENDER_LOG)).toBe(DRY_RUN_STDOUT);
    expect(await readdir(path.join(bundle.dir, 'rendered'))).toEqual(['backfill.yaml', 'specs.json']);
    expect(await readdir(bundle.dir)).not.toContain(NOTES_FILE);
  });
});
