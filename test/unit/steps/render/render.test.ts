import { cp, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Bundle, createBundle } from '../../../../src/bundle/bundle.js';
import { NOTES_FILE } from '../../../../src/bundle/notes.js';
import { newSummary } from '../../../../src/bundle/summary-io.js';
import { type ConfigInput, RUNBOOK_RENDER_COMMAND } from '../../../../src/config/schema.js';
import type { PrefectApi } from '../../../../src/prefect/api.js';
import { createRedactor } from '../../../../src/secrets/redact.js';
import { RENDER_LOG, renderStep, SPECS_FILE } from '../../../../src/steps/render/render.js';
import { runSteps } from '../../../../src/steps/runner.js';
import { createTestContext, HOTPASS_DIR } from '../../../support/context.js';
import { createFakeApi, recordedRoutes, UNREACHABLE } from '../../../support/fake-api.js';
import { createFakeRunner, type FakeEntry, type FakeResult } from '../../../support/fake-runner.js';

const NOW = new Date('2026-11-26T01:20:00Z');
const recordedText = (name: string) =>
  readFile(fileURLToPath(new URL(`../../../../fixtures/hotpass-render/${name}`, import.meta.url)), 'utf8');
/** The stand-in hotpass's real output for the runbook's render command, recorded once. */
const DRY_RUN_STDOUT = await recordedText('dry-run.stdout');
/** `hotpass deploy --help` of the runbook-shaped stand-in (it has --dry-run) and of the upstream-shaped one (it has not). */
const RUNBOOK_HELP = await recordedText('deploy-help.stdout');
const UPSTREAM_HELP = await recordedText('upstream-deploy-help.stdout');
const UPSTREAM_DIR = fileURLToPath(new URL('../../../../fixtures/hotpass-upstream', import.meta.url));
const RENDER_OK: FakeResult = { exitCode: 0, stdout: DRY_RUN_STDOUT, stderr: '' };
const HELP_ARGV = ['uv', 'run', 'hotpass', 'deploy', '--help'];
const STAGING_REL = 'prefect/staging/backfill.yaml';
const UPSTREAM_DEPLOY = ['uv', 'run', 'hotpass', 'deploy', '--flow', 'backfill', '--manifest-dir', 'prefect'];

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

async function useUpstreamProject(): Promise<void> {
  await rm(path.join(projectDir, 'prefect'), { recursive: true });
  await cp(path.join(UPSTREAM_DIR, 'prefect'), path.join(projectDir, 'prefect'), { recursive: true });
}

interface RenderOptions {
  help?: FakeResult;
  result?: FakeResult;
  api?: PrefectApi;
  config?: ConfigInput;
  dryRun?: boolean;
}

/** Runs the render step as `rehearse render` does: one step, through the runner, into the bundle. */
async function render(options: RenderOptions = {}) {
  const entries: FakeEntry[] = [
    {
      match: (c) => c.args.at(-1) === '--help',
      result: options.help ?? { exitCode: 0, stdout: RUNBOOK_HELP, stderr: '' },
    },
    { match: options.config?.render?.command ?? RUNBOOK_RENDER_COMMAND, result: options.result ?? RENDER_OK },
  ];
  const runner = createFakeRunner(entries);
  const ctx = createTestContext({
    runner,
    api: options.api ?? createFakeApi(recordedRoutes()),
    now: () => NOW,
    redact: bundle.redact,
    projectDir,
    ...(options.config ? { config: options.config } : {}),
    ...(options.dryRun ? { flags: { dryRun: true } } : {}),
  });
  const outcome = await runSteps(
    ctx,
    bundle,
    [renderStep],
    newSummary(bundle, NOW, { deployment: ctx.config.deployment }),
    { wholeRehearsal: false },
  );
  const step = outcome.summary.steps.find((s) => s.name === 'render');
  const argvs = runner.calls.map((c) => [c.file, ...c.args]);
  return { outcome, step, runner, argvs, events: ctx.reporter.events };
}

const file = (rel: string) => readFile(path.join(bundle.dir, rel), 'utf8');

describe('render with a deploy command whose --help lists --dry-run (the runbook-shaped stand-in)', () => {
  it('asks for --help, runs the dry run read-only, keeps its output and specs, and notes no drift', async () => {
    const { outcome, step, runner, argvs } = await render();

    expect(outcome.error).toBeUndefined();
    expect([step?.status, step?.verdict, step?.checks]).toEqual(['ok', 'pass', []]);
    expect(argvs).toEqual([HELP_ARGV, RUNBOOK_RENDER_COMMAND]);
    expect(runner.calls.every((c) => c.readOnly)).toBe(true);
    expect(runner.calls[1]).toMatchObject({ cwd: projectDir, timeoutMs: 120_000 });
    expect(await file(RENDER_LOG)).toBe(DRY_RUN_STDOUT);
    expect(await file('rendered/backfill.yaml')).toBe(await readFile(path.join(projectDir, STAGING_REL), 'utf8'));
    const specs = JSON.parse(await file(SPECS_FILE)) as Record<string, unknown>[];
    expect(specs).toEqual([expect.objectContaining({ name: 'hotpass-backfill', source: STAGING_REL })]);

    const notes = await file(NOTES_FILE);
    expect(notes).toContain(
      'No drift: the repository manifest `prefect/deployments/hotpass-backfill.yaml`, the staging render `prefect/staging/backfill.yaml`',
    );
    expect(notes).toContain('`uv run hotpass deploy --help` lists --dry-run');
    expect(notes).toContain(`Render command \`${RUNBOOK_RENDER_COMMAND.join(' ')}\` exited 0`);
    expect(step?.files).toEqual([RENDER_LOG, 'rendered/backfill.yaml', SPECS_FILE, NOTES_FILE]);
    expect(step?.data).toMatchObject({
      render: 'command',
      command: RUNBOOK_RENDER_COMMAND,
      exitCode: 0,
      renderedFiles: ['rendered/backfill.yaml', SPECS_FILE],
      drift: 0,
      driftedKeys: [],
    });
  });

  it('tabulates drift against what the render printed, not the manifest file', async () => {
    await editFile(STAGING_REL, /^concurrency_limit: 2$/m, 'concurrency_limit: 5');
    const printed = DRY_RUN_STDOUT.replace('"limit": 2', '"limit": 3');
    const { step } = await render({ result: { exitCode: 0, stdout: printed, stderr: '' } });

    const notes = await file(NOTES_FILE);
    expect(notes).toContain('| key | repository | staging render | live |');
    expect(notes).toContain('| deployment.concurrency_limit | 2 | 3 | 2 |');
    expect(notes).toContain(`the spec the render produced (${SPECS_FILE})`);
    expect(step?.data).toMatchObject({ drift: 1, driftedKeys: ['deployment.concurrency_limit'] });
  });

  it('names the options an older hotpass rejects, points at render.deployCommand, and still keeps render.log', async () => {
    const stderr = 'usage: hotpass [-h] {deploy} ...\nhotpass: error: unrecognized arguments: --no-upload --dry-run\n';
    const api = createFakeApi(recordedRoutes());
    const { outcome, step } = await render({ result: { exitCode: 2, stdout: '', stderr }, api });

    expect(outcome.error?.code).toBe('COMMAND_FAILED');
    expect(outcome.error?.exitCode).toBe(3);
    expect(outcome.error?.message).toBe("the render command's hotpass does not accept --no-upload, --dry-run");
    expect(outcome.error?.hint).toContain('render.deployCommand');
    expect(outcome.error?.details).toContain('hotpass: error: unrecognized arguments: --no-upload --dry-run');
    expect([step?.status, step?.error?.code]).toEqual(['error', 'COMMAND_FAILED']);
    expect(await file(RENDER_LOG)).toBe(stderr);
    expect(await readdir(bundle.dir)).not.toContain('rendered');
    expect(api.requests).toEqual([]);
  });

  it('stops with API_UNREACHABLE when the server does not answer, after keeping what was rendered', async () => {
    const { outcome, step } = await render({ api: createFakeApi({}, { fallback: UNREACHABLE }) });

    expect(outcome.error?.code).toBe('API_UNREACHABLE');
    expect([step?.status, step?.error?.code]).toEqual(['error', 'API_UNREACHABLE']);
    expect(await file(RENDER_LOG)).toBe(DRY_RUN_STDOUT);
    expect(await readdir(path.join(bundle.dir, 'rendered'))).toEqual(['backfill.yaml', 'specs.json']);
  });
});

describe('a configured render.command', () => {
  const command = ['make', 'render-staging'];

  it('is refused, with the reason and what to do, unless declared read-only; nothing runs, nothing is written', async () => {
    const { outcome, runner } = await render({ config: { render: { command } } });

    expect(outcome.error?.code).toBe('CONFIG_INVALID');
    expect(outcome.exitCode).toBe(2);
    expect(outcome.error?.message).toBe('render.command `make render-staging` is not declared read-only');
    expect(outcome.error?.hint).toContain('readOnly: true');
    expect(runner.calls).toEqual([]);
    expect(outcome.untouched).toBe(true);
  });

  it('is refused under --dry-run too, rather than reported as a render that passed', async () => {
    const { outcome, runner } = await render({ config: { render: { command } }, dryRun: true });
    expect(outcome.exitCode).toBe(2);
    expect(runner.calls).toEqual([]);
  });

  it('runs, read-only and without asking any --help, once declared read-only', async () => {
    const { outcome, runner, argvs } = await render({ config: { render: { command, readOnly: true } } });

    expect(outcome.error).toBeUndefined();
    expect(argvs).toEqual([command]);
    expect(runner.calls[0]?.readOnly).toBe(true);
    expect(await file(NOTES_FILE)).toContain('render.command, declared read-only in rehearse.config');
  });
});

describe('render with a deploy command that has no dry run (the upstream-shaped stand-in)', () => {
  const config: ConfigInput = { render: { deployCommand: UPSTREAM_DEPLOY } };

  it('runs only its --help, renders the manifests itself, and compares the live deployment with that', async () => {
    await useUpstreamProject();
    const { outcome, step, argvs, events } = await render({
      config,
      help: { exitCode: 0, stdout: UPSTREAM_HELP, stderr: '' },
    });

    expect(outcome.error).toBeUndefined();
    expect(argvs).toEqual([HELP_ARGV]);
    const specs = JSON.parse(await file(SPECS_FILE)) as Record<string, unknown>[];
    expect(specs).toEqual([
      expect.objectContaining({
        id: 'backfill',
        name: 'hotpass-backfill',
        work_pool: 'default-agent-pool',
        paused: true,
        source: 'prefect/deployments/hotpass-backfill.yaml',
        parameters: expect.objectContaining({ concurrency_key: 'hotpass/backfill', concurrency_limit: 2 }) as unknown,
      }),
    ]);
    expect(await file('rendered/deployments/hotpass-backfill.yaml')).toBe(
      await readFile(path.join(UPSTREAM_DIR, 'prefect/deployments/hotpass-backfill.yaml'), 'utf8'),
    );
    const log = await file(RENDER_LOG);
    expect(log).toContain('`uv run hotpass deploy --help` lists no --dry-run');
    expect(log).toContain('deploy command (not run): uv run hotpass deploy --flow backfill --manifest-dir prefect');
    // The recorded live deployment is the runbook's: its pool and key differ from what upstream renders.
    const notes = await file(NOTES_FILE);
    expect(notes).toContain(
      '| deployment.work_pool | default-agent-pool | default-agent-pool | hotpass-backfill-pool |',
    );
    expect(notes).toContain('| concurrency_key | hotpass/backfill | hotpass/backfill | hotpass-backfill |');
    expect(notes).toContain('rehearse rendered the manifests itself and ran no deploy command');
    expect(step?.data).toMatchObject({ render: 'manifests', manifestDir: 'prefect', selected: ['backfill'] });
    expect(events).toContainEqual({
      type: 'info',
      message: expect.stringContaining('render: by rehearse, from the manifests') as unknown,
    });
  });

  it('applies the overrides the deploy command passes (--name, --work-pool, --schedule none)', async () => {
    await useUpstreamProject();
    const deployCommand = [...UPSTREAM_DEPLOY, '--work-pool', 'hotpass-backfill-pool', '--schedule=none'];
    const { outcome } = await render({
      config: { render: { deployCommand } },
      help: { exitCode: 0, stdout: UPSTREAM_HELP, stderr: '' },
    });

    expect(outcome.error).toBeUndefined();
    const [spec] = JSON.parse(await file(SPECS_FILE)) as Record<string, unknown>[];
    expect(spec).toMatchObject({ work_pool: 'hotpass-backfill-pool', schedule: null, paused: true });
  });

  it('renders itself when --help fails, saying it could not tell, and runs the deploy command never', async () => {
    await useUpstreamProject();
    const { outcome, argvs } = await render({
      config,
      help: { exitCode: 1, stdout: '', stderr: 'error: Failed to spawn: `hotpass`' },
    });

    expect(outcome.error).toBeUndefined();
    expect(argvs).toEqual([HELP_ARGV]);
    expect(await file(RENDER_LOG)).toContain('failed (exit 1), so rehearse cannot tell whether it has a dry run');
  });

  it('under --dry-run renders the same way, for real, and says which render it used', async () => {
    await useUpstreamProject();
    const { outcome, step, argvs } = await render({
      config,
      dryRun: true,
      help: { exitCode: 0, stdout: UPSTREAM_HELP, stderr: '' },
    });

    expect(outcome.error).toBeUndefined();
    expect(argvs).toEqual([HELP_ARGV]);
    expect(step?.commands.every((c) => !c.planned)).toBe(true);
    expect(step?.data).toMatchObject({ render: 'manifests' });
    expect(await readdir(path.join(bundle.dir, 'rendered'))).toContain('specs.json');
  });

  it('fails, naming the ids there are, when --flow selects no manifest', async () => {
    await useUpstreamProject();
    const deployCommand = ['uv', 'run', 'hotpass', 'deploy', '--flow', 'refinement', '--manifest-dir', 'prefect'];
    const { outcome } = await render({
      config: { render: { deployCommand } },
      help: { exitCode: 0, stdout: UPSTREAM_HELP, stderr: '' },
    });

    expect(outcome.error?.code).toBe('CONFIG_INVALID');
    expect(outcome.error?.details).toEqual(['prefect/deployments/hotpass-backfill.yaml: id backfill']);
  });
});

async function editFile(rel: string, from: RegExp, to: string): Promise<void> {
  const target = path.join(projectDir, rel);
  const text = await readFile(target, 'utf8');
  const next = text.replace(from, to);
  expect(next).not.toBe(text);
  await writeFile(target, next);
}
