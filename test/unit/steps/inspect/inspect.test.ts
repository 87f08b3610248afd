import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Bundle, createBundle } from '../../../../src/bundle/bundle.js';
import { NOTES_FILE } from '../../../../src/bundle/notes.js';
import { type Summary, SummarySchema } from '../../../../src/bundle/summary.js';
import { newSummary } from '../../../../src/bundle/summary-io.js';
import type { ConfigInput } from '../../../../src/config/schema.js';
import type { PrefectApi } from '../../../../src/prefect/api.js';
import { collectSecrets, createRedactor } from '../../../../src/secrets/redact.js';
import { DEPLOYMENT_FILE, INSPECT_LOG, inspectStep } from '../../../../src/steps/inspect/inspect.js';
import { runSteps } from '../../../../src/steps/runner.js';
import { createTestContext, HOTPASS_DIR } from '../../../support/context.js';
import { createFakeApi, recorded, recordedDeployment, recordedRoutes, UNREACHABLE } from '../../../support/fake-api.js';
import { createFakeRunner, type FakeResult } from '../../../support/fake-runner.js';
import { INSPECT_ARGV } from '../../support/step-context.js';

const NOW = new Date('2026-11-26T01:20:00Z');
const SHELL_ENV = { PWD: '/work/main', OLDPWD: '/work', PREFECT_API_KEY: 'pnu_3f9a1c2b7d4e5f60718293a4' };
const CLI_OK: FakeResult = { exitCode: 0, stdout: recorded('deployment.inspect.stdout'), stderr: '' };

let root: string;
let bundle: Bundle;
beforeEach(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'rehearse-inspect-'));
  // Redacting as session.ts does, from a shell's environment: the working directory is no secret.
  bundle = await createBundle(root, NOW, createRedactor(collectSecrets(SHELL_ENV)));
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

/** Runs the inspect step as `rehearse inspect` does: one step, through the runner, into the bundle. */
async function inspect(options: { cli: FakeResult; api: PrefectApi; config?: ConfigInput }) {
  const runner = createFakeRunner([{ match: INSPECT_ARGV, result: options.cli }]);
  const ctx = createTestContext({
    runner,
    api: options.api,
    now: () => NOW,
    redact: bundle.redact,
    ...(options.config ? { config: options.config } : {}),
  });
  const outcome = await runSteps(
    ctx,
    bundle,
    [inspectStep],
    newSummary(bundle, NOW, { deployment: ctx.config.deployment }),
    { wholeRehearsal: false },
  );
  const step = outcome.summary.steps.find((s) => s.name === 'inspect');
  if (!step) throw new Error('runSteps recorded no inspect step');
  return { outcome, step, runner };
}

const file = (rel: string) => readFile(path.join(bundle.dir, rel), 'utf8');
async function savedSummary(): Promise<Summary> {
  return SummarySchema.parse(JSON.parse(await file('summary.json')));
}

describe('the inspect step, run through runSteps against the recorded Prefect 3.9.1 server', () => {
  it('judges a healthy deployment: 7 passing checks, the exact API record, notes and the commands it ran', async () => {
    const { outcome, step, runner } = await inspect({ cli: CLI_OK, api: createFakeApi(recordedRoutes()) });

    expect(outcome.error).toBeUndefined();
    expect([step.status, step.verdict]).toEqual(['ok', 'pass']);
    expect(step.checks).toHaveLength(7);
    expect(step.checks.filter((c) => c.verdict !== 'pass')).toEqual([]);
    expect(runner.calls.map((c) => [c.file, ...c.args])).toEqual([INSPECT_ARGV]);

    // The API's bytes, as recorded from the real server, not a re-serialisation of them.
    expect(await file(DEPLOYMENT_FILE)).toBe(recorded('deployment.api.json'));
    expect(await file(NOTES_FILE)).toContain('All 7 checks matched the manifest.');
    expect(await readdir(bundle.dir)).not.toContain(INSPECT_LOG);

    const saved = await savedSummary();
    const savedStep = saved.steps.find((s) => s.name === 'inspect');
    expect(savedStep?.checks.map((c) => c.verdict)).toEqual(Array(7).fill('pass'));
    expect(saved.checks).toHaveLength(7);
    expect(savedStep?.files).toEqual([DEPLOYMENT_FILE, 'manifest/hotpass-backfill.yaml', NOTES_FILE]);
    // The manifest as judged, byte for byte, so verify can judge again offline.
    expect(await readFile(path.join(bundle.dir, 'manifest/hotpass-backfill.yaml'), 'utf8')).toBe(
      await readFile(path.join(HOTPASS_DIR, 'prefect/deployments/hotpass-backfill.yaml'), 'utf8'),
    );
    expect(savedStep?.data).toMatchObject({
      fullName: 'hotpass-backfill/hotpass-backfill',
      concurrencyKey: 'hotpass-backfill',
      deploymentLimit: 2,
    });
    const processes = savedStep?.commands.filter((c) => c.kind === 'process');
    expect(processes).toEqual([
      expect.objectContaining({ file: 'uv', args: INSPECT_ARGV.slice(1), exitCode: 0, readOnly: true }),
    ]);
    expect(processes?.[0]?.display).toContain('prefect deployment inspect hotpass-backfill/hotpass-backfill -o json');
    const http = savedStep?.commands
      .filter((c) => c.kind === 'http')
      .map((c) => [c.display.replace(/^(\w+) http:\/\/[^/]+\/api/, '$1 '), c.status]);
    expect(http).toEqual(
      expect.arrayContaining([
        ['GET /deployments/name/hotpass-backfill/hotpass-backfill', 200],
        ['GET /v2/concurrency_limits/hotpass-backfill', 200],
      ]),
    );
    // One step by hand leaves the bundle partial: no verdict of pass before the whole rehearsal.
    expect([saved.status, saved.verdict]).toEqual(['partial', 'incomplete']);
  });

  it("notes the paths the CLI's console markup altered in -o json, and keeps its output", async () => {
    const api = recordedDeployment();
    api.parameters.name_pattern = '^[a-z]+$';
    const cli = JSON.parse(recorded('deployment.inspect.stdout')) as { parameters: Record<string, unknown> };
    cli.parameters.name_pattern = '^+$'; // rich took "[a-z]" for a style tag
    const cliStdout = `${JSON.stringify(cli, null, 2)}\n`;

    const { step } = await inspect({
      cli: { exitCode: 0, stdout: cliStdout, stderr: '' },
      api: createFakeApi(recordedRoutes({ deploymentText: JSON.stringify(api) })),
    });

    expect([step.status, step.verdict]).toEqual(['ok', 'pass']);
    const notes = await file(NOTES_FILE);
    expect(notes).toMatch(/altered 1 value\(s\) through its console markup \(parameters\.name_pattern\)/);
    expect(step.files).toContain(INSPECT_LOG);
    expect(await file(INSPECT_LOG)).toBe(cliStdout);
    expect((JSON.parse(await file(DEPLOYMENT_FILE)) as typeof api).parameters.name_pattern).toBe('^[a-z]+$');
  });

  it('names a value whose emoji shortcode the console replaced (:ok: printed as 🆗)', async () => {
    const api = recordedDeployment();
    api.description = 'Weekly archive replay :ok: for staging';
    const cli = JSON.parse(recorded('deployment.inspect.stdout')) as Record<string, unknown>;
    cli.description = 'Weekly archive replay 🆗 for staging';
    const { step } = await inspect({
      cli: { exitCode: 0, stdout: `${JSON.stringify(cli, null, 2)}\n`, stderr: '' },
      api: createFakeApi(recordedRoutes({ deploymentText: JSON.stringify(api) })),
    });
    expect([step.status, step.verdict]).toEqual(['ok', 'pass']);
    expect(await file(NOTES_FILE)).toMatch(/altered 1 value\(s\) through its console markup \(description\)/);
  });

  it('names a value with a backslash when the console broke the JSON around it (\\[esc])', async () => {
    const api = recordedDeployment();
    api.description = 'an escaped \\[esc] tag';
    const cli = JSON.parse(recorded('deployment.inspect.stdout')) as Record<string, unknown>;
    cli.description = api.description;
    // rich halves the two backslashes JSON writes and takes [esc] for a tag: one backslash before the quote is left.
    const stdout = `${JSON.stringify(cli, null, 2)}\n`.replace('\\\\[esc] tag', '\\ tag');
    expect(() => JSON.parse(stdout)).toThrow();
    const { step } = await inspect({
      cli: { exitCode: 0, stdout, stderr: '' },
      api: createFakeApi(recordedRoutes({ deploymentText: JSON.stringify(api) })),
    });
    expect([step.status, step.verdict]).toEqual(['ok', 'pass']);
    const notes = await file(NOTES_FILE);
    expect(notes).toContain('printed something other than JSON');
    expect(notes).toContain('its console markup rewrites text in description, which can break the JSON around it');
  });

  it('says nothing of markup when the two reads differ only because runs took slots in between', async () => {
    const api = recordedDeployment();
    const cli = JSON.parse(recorded('deployment.inspect.stdout')) as Record<string, Record<string, unknown>>;
    const limit = cli.global_concurrency_limit as Record<string, unknown>;
    limit.active_slots = 2;
    limit.updated = '2026-11-28T03:05:01.999999Z';
    const { step } = await inspect({
      cli: { exitCode: 0, stdout: `${JSON.stringify(cli, null, 2)}\n`, stderr: '' },
      api: createFakeApi(recordedRoutes({ deploymentText: JSON.stringify(api) })),
    });
    expect([step.status, step.verdict]).toEqual(['ok', 'pass']);
    expect(await file(NOTES_FILE)).not.toContain('console markup');
    expect(step.files).not.toContain(INSPECT_LOG);
  });

  it('judges from the API when the CLI rejects the name (exit 1), keeping its raw output', async () => {
    const bareNameError = recorded('deployment.inspect.bare-name.stdout');
    const { outcome, step } = await inspect({
      cli: { exitCode: 1, stdout: bareNameError, stderr: '' },
      api: createFakeApi(recordedRoutes()),
    });

    expect(outcome.error).toBeUndefined();
    expect([step.status, step.verdict]).toEqual(['ok', 'pass']);
    expect(step.checks.filter((c) => c.verdict === 'pass')).toHaveLength(7);
    expect(await file(INSPECT_LOG)).toBe(bareNameError);
    expect(await file(NOTES_FILE)).toContain(
      "exit 1: Invalid deployment name. Expected '<flow-name>/<deployment-name>'",
    );
    // The API's bytes, as recorded from the real server, not a re-serialisation of them.
    expect(await file(DEPLOYMENT_FILE)).toBe(recorded('deployment.api.json'));
    expect(step.commands.find((c) => c.kind === 'process')?.exitCode).toBe(1);
  });

  it('fails a drifted deployment on the check that drifted', async () => {
    const api = recordedDeployment();
    (api.global_concurrency_limit as { limit: number }).limit = 5;
    const { step } = await inspect({
      cli: CLI_OK,
      api: createFakeApi(recordedRoutes({ deploymentText: JSON.stringify(api) })),
    });
    expect(step.verdict).toBe('fail');
    expect(step.checks.filter((c) => c.verdict !== 'pass').map((c) => c.id)).toEqual(['deployment.concurrency_limit']);
    expect(await file(NOTES_FILE)).toMatch(/\| deployment\.concurrency_limit \| fail \| 2 \| 5 \|/);
  });

  it.each([
    ['the bare runbook name', {}],
    ['a flow/deployment name', { deployment: 'hotpass-backfill/hotpass-backfill' }],
  ])(
    'stops with API_UNREACHABLE when the API does not answer (%s), and the bundle failed to run',
    async (_name, config: ConfigInput) => {
      const { outcome, step } = await inspect({
        cli: CLI_OK,
        api: createFakeApi({}, { fallback: UNREACHABLE }),
        config,
      });

      expect(outcome.error?.code).toBe('API_UNREACHABLE');
      expect(outcome.error?.exitCode).toBe(3);
      expect([step.status, step.verdict, step.error?.code]).toEqual(['error', 'error', 'API_UNREACHABLE']);
      expect(step.error?.message).toContain('ECONNREFUSED');
      expect(step.checks).toEqual([]);

      const saved = await savedSummary();
      expect(saved.status).toBe('failed-to-run');
      expect(saved.verdict).not.toBe('pass');
      expect(saved.steps.find((s) => s.name === 'inspect')?.error?.code).toBe('API_UNREACHABLE');
      expect(await readdir(bundle.dir)).not.toContain(DEPLOYMENT_FILE);
    },
  );
});
