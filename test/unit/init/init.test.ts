import { existsSync, readFileSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type InitOptions, init } from '../../../src/commands/init.js';
import { loadConfig } from '../../../src/config/load.js';
import { RehearseError } from '../../../src/errors.js';
import { buildWindowParameters } from '../../../src/prefect/parameters.js';
import { DeploymentSchema } from '../../../src/prefect/schemas.js';
import { createRecordingReporter, HOTPASS_DIR } from '../../support/context.js';
import { createFakeApi, recordedDeployment, recordedRoutes, UNREACHABLE } from '../../support/fake-api.js';
import { argvOf, createFakeRunner, type FakeRunner } from '../../support/fake-runner.js';

const SCHEMAS = JSON.parse(
  readFileSync(new URL('../../../fixtures/prefect/parameter-schemas/schemas.json', import.meta.url), 'utf8'),
) as Record<string, unknown>;

/** `hotpass deploy --help` of the runbook fixture, as its argparse prints it. */
const RUNBOOK_HELP = `usage: hotpass deploy [-h] [--manifest-dir MANIFEST_DIR] [--flow FLOW]
                      [--name NAME] [--work-pool WORK_POOL] [--dry-run]
                      [--no-upload]

options:
  -h, --help            show this help message and exit
  --manifest-dir MANIFEST_DIR
  --flow FLOW           manifest id to deploy (default: all)
  --dry-run             render the specs without applying them
  --no-upload           do not upload artefacts (implied by --dry-run)
`;
/** The upstream deploy CLI's flags: no dry run. */
const UPSTREAM_HELP = `usage: hotpass deploy [-h] [--flow {refinement,backfill}] [--manifest-dir MANIFEST_DIR]
                      [--build-image] [--push-image] [--name NAME] [--schedule SCHEDULE] [--work-pool WORK_POOL]
`;
const UPSTREAM_MANIFEST = `id: backfill
name: hotpass-backfill
flow: hotpass.orchestration:backfill_pipeline_flow
work_pool: default-agent-pool
parameters:
  runs: []
  archive_root: dist/input-archives
  restore_root: dist/backfill
  parameters:
    pipeline: {backfill: true, incremental: false, since: null}
  concurrency_limit: 2
  concurrency_key: hotpass/backfill
schedule: {kind: interval, value: 604800, active: false}
concurrency_limit: 2
`;

let root: string;
beforeEach(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'rehearse-init-'));
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

async function upstreamProject(): Promise<string> {
  const dir = path.join(root, 'upstream');
  await mkdir(path.join(dir, 'prefect', 'deployments'), { recursive: true });
  await writeFile(path.join(dir, 'prefect', 'deployments', 'hotpass-backfill.yaml'), UPSTREAM_MANIFEST);
  await writeFile(
    path.join(dir, 'pyproject.toml'),
    '[project]\nname = "hotpass"\n\n[project.scripts]\nhotpass = "hotpass.cli:main"\n\n[tool.uv]\n',
  );
  await writeFile(path.join(dir, 'uv.lock'), '');
  return dir;
}

async function runbookProject(): Promise<string> {
  const dir = path.join(root, 'hotpass');
  await cp(HOTPASS_DIR, dir, { recursive: true, filter: (src) => !src.includes('.venv') });
  return dir;
}

function helpRunner(help: string, exitCode = 0): FakeRunner {
  return createFakeRunner([
    { match: ['uv', 'run', 'hotpass', 'deploy', '--help'], result: { exitCode, stdout: help, stderr: '' } },
  ]);
}

/** A live server whose hotpass-backfill deployment has the given parameter schema, pool and defaults. */
function liveServer(schema: unknown) {
  const deployment = recordedDeployment();
  deployment.parameter_openapi_schema = schema;
  deployment.work_pool_name = 'default-agent-pool';
  deployment.parameters = {
    runs: [],
    archive_root: 'dist/input-archives',
    restore_root: 'dist/backfill',
    concurrency_limit: 2,
    concurrency_key: 'hotpass/backfill',
  };
  return {
    api: createFakeApi(recordedRoutes({ deploymentText: JSON.stringify(deployment) })),
    deployment: DeploymentSchema.parse(deployment),
  };
}

function options(cwd: string, extra: Partial<InitOptions>): InitOptions {
  return {
    cwd,
    env: {},
    sandbox: false,
    print: false,
    force: false,
    reporter: createRecordingReporter(),
    signal: new AbortController().signal,
    api: null,
    now: () => new Date('2026-11-27T23:50:00Z'),
    ...extra,
  };
}

async function failure(promise: Promise<unknown>): Promise<RehearseError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof RehearseError) return error;
    throw error;
  }
  throw new Error('expected a RehearseError');
}

describe('rehearse init in the upstream-shaped project, with its live deployment', () => {
  it('writes a config that loads, with the live name, pool and a runs window, and lists what it could not decide', async () => {
    const dir = await upstreamProject();
    const { api, deployment } = liveServer(SCHEMAS.upstream);
    const runner = helpRunner(UPSTREAM_HELP);
    const result = await init(options(dir, { runner, api }));

    expect(result.exitCode).toBe(0);
    expect(argvOf(runner.calls[0]!)).toEqual(['uv', 'run', 'hotpass', 'deploy', '--help']);
    expect(runner.calls[0]?.readOnly).toBe(true);
    const text = await readFile(path.join(dir, 'rehearse.config.yaml'), 'utf8');
    const { config } = await loadConfig({ cwd: dir });
    expect(config).toMatchObject({
      deployment: 'hotpass-backfill/hotpass-backfill',
      workPool: 'default-agent-pool',
      manifest: 'prefect/deployments/hotpass-backfill.yaml',
      manifestDir: 'prefect/deployments',
      run: { window: { mode: 'runs', version: 'latest' } },
    });
    // No dry run: the deploy command is recorded for rehearse to read, never render.command.
    const unwrapped = text.replace(/\n# /g, ' ');
    expect(unwrapped).toMatch(
      /`uv run hotpass deploy` has no dry run \(its flags: --flow --manifest-dir --build-image --push-image --name --schedule --work-pool\)/,
    );
    expect(config.render).toMatchObject({
      deployCommand: ['uv', 'run', 'hotpass', 'deploy', '--manifest-dir', 'prefect/deployments', '--flow', 'backfill'],
      readOnly: false,
    });
    expect(config.render.command).toBeUndefined();
    expect(text).toMatch(/#\s+runs: list\[object\] \(required\)/);
    expect(text).toMatch(/concurrency key "hotpass\/backfill"/);
    const undecided = (result.data as { plan: { undecided: string[] } }).plan.undecided;
    expect(undecided).toEqual([
      expect.stringMatching(
        /^concurrency key hotpass\/backfill cannot name a Prefect global limit .* renamed \(e\.g\. hotpass-backfill\)/,
      ),
      expect.stringMatching(/^run\.window\.version "latest" is a default/),
      expect.stringMatching(/^manifestDir: no staging overlay/),
    ]);
    expect(text).toContain('# NOT DECIDED: check these by hand:');

    // What `rehearse run` then sends with this config: a runs list and no since/until.
    const mapped = buildWindowParameters({
      deploymentName: deployment.name,
      parameterSchema: deployment.parameter_openapi_schema,
      deploymentParameters: deployment.parameters,
      since: config.run.since,
      until: config.run.until,
      window: config.run.window,
      extra: config.run.parameters,
      drop: config.run.drop,
    });
    expect(Object.keys(mapped.parameters)).toEqual(['runs']);
    expect((mapped.parameters.runs as unknown[]).length).toBe(7);
  });

  it('lists the window as undecided, with a template to fill, when the live flow takes neither shape', async () => {
    const dir = await upstreamProject();
    const result = await init(
      options(dir, { runner: helpRunner(UPSTREAM_HELP), api: liveServer(SCHEMAS.windowed).api }),
    );
    const text = await readFile(path.join(dir, 'rehearse.config.yaml'), 'utf8');
    expect((result.data as { plan: { undecided: string[] } }).plan.undecided).toContainEqual(
      expect.stringMatching(/^the window: cannot pass the window/),
    );
    expect(text).toMatch(/# window:\n\s+#\s+mode: template/);
    expect((await loadConfig({ cwd: dir })).config.run.window).toBeUndefined();
  });

  it('falls back to the manifest when the server does not answer, and says so', async () => {
    const dir = await upstreamProject();
    const api = createFakeApi({ 'GET /health': UNREACHABLE });
    const result = await init(options(dir, { runner: helpRunner(UPSTREAM_HELP), api }));
    const { config } = await loadConfig({ cwd: dir });
    expect(config).toMatchObject({
      deployment: 'hotpass-backfill',
      workPool: 'default-agent-pool',
      run: { window: { mode: 'auto' } },
    });
    expect((result.data as { plan: { undecided: string[] } }).plan.undecided[0]).toMatch(
      /did not answer \(ECONNREFUSED\): values come from the manifest/,
    );
  });
});

describe('rehearse init in the runbook fixture, without a server', () => {
  it('records the deploy command as the project applies its staging overlay, noting its dry run', async () => {
    const dir = await runbookProject();
    const result = await init(options(dir, { runner: helpRunner(RUNBOOK_HELP) }));
    const { config } = await loadConfig({ cwd: dir });
    expect(config.render.deployCommand).toEqual([
      'uv',
      'run',
      'hotpass',
      'deploy',
      '--manifest-dir',
      'prefect/staging',
      '--flow',
      'backfill',
    ]);
    expect(config.render.command).toBeUndefined();
    expect(await readFile(path.join(dir, 'rehearse.config.yaml'), 'utf8')).toMatch(
      /`uv run hotpass deploy` lists --dry-run: render runs it with that flag/,
    );
    expect(config).toMatchObject({
      deployment: 'hotpass-backfill',
      workPool: 'hotpass-backfill-pool',
      manifestDir: 'prefect/staging',
      run: { window: { mode: 'auto' } },
    });
    expect((result.data as { plan: { undecided: string[] } }).plan.undecided).toEqual([
      expect.stringMatching(/^the live deployment was not read \(no server given\)/),
    ]);
  });

  it('says when no deploy command answers --help', async () => {
    const dir = await runbookProject();
    const result = await init(options(dir, { runner: helpRunner('', 2) }));
    expect((result.data as { plan: { undecided: string[] } }).plan.undecided).toContainEqual(
      'render: no deploy command answered --help (uv run hotpass deploy --help: exit 2)',
    );
  });
});

describe('init never overwrites a config', () => {
  it('refuses with exit 2 when one exists; --force writes .new beside it; --stdout prints and writes nothing', async () => {
    const dir = await runbookProject();
    await writeFile(path.join(dir, 'rehearse.config.yaml'), 'deployment: mine\n');
    const refused = await failure(init(options(dir, { runner: helpRunner(RUNBOOK_HELP) })));
    expect([refused.exitCode, refused.message]).toEqual([
      2,
      'rehearse.config.yaml already exists: init never overwrites a config',
    ]);
    expect(refused.hint).toMatch(/--force to write rehearse\.config\.yaml\.new/);

    const printed = await init(options(dir, { runner: helpRunner(RUNBOOK_HELP), print: true }));
    expect(printed.lines?.[0]).toMatch(/^# yaml-language-server: \$schema=\/.*rehearse\.config\.schema\.json$/);
    expect(printed.lines?.[1]).toMatch(/^# rehearse\.config\.yaml, written by `rehearse init`/);
    expect(existsSync(path.join(dir, 'rehearse.config.yaml.new'))).toBe(false);

    await init(options(dir, { runner: helpRunner(RUNBOOK_HELP), force: true }));
    expect(await readFile(path.join(dir, 'rehearse.config.yaml'), 'utf8')).toBe('deployment: mine\n');
    expect(await readFile(path.join(dir, 'rehearse.config.yaml.new'), 'utf8')).toBe(`${printed.lines?.join('\n')}\n`);
  });

  it('refuses a directory with no manifest when no server names the deployment', async () => {
    const error = await failure(init(options(root, { runner: helpRunner(RUNBOOK_HELP) })));
    expect(error.exitCode).toBe(2);
    expect(error.message).toMatch(/no Prefect deployment manifest/);
  });
});
