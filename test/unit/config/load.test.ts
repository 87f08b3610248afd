import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load.js';
import { DEPLOY_COMMAND } from '../../../src/config/schema.js';
import { RehearseError } from '../../../src/errors.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'rehearse-config-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const write = (name: string, text: string) => writeFile(path.join(dir, name), text);

async function rejection(options: Parameters<typeof loadConfig>[0]): Promise<RehearseError> {
  const error: unknown = await loadConfig(options).then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(RehearseError);
  return error as RehearseError;
}

describe('loadConfig', () => {
  it("defaults to the runbook's names when there is no config file", async () => {
    const { config, file } = await loadConfig({ cwd: dir });
    expect(file).toBeUndefined();
    expect(config).toMatchObject({
      projectDir: '.',
      evidenceRoot: 'dist/staging/backfill',
      deployment: 'hotpass-backfill',
      workPool: 'hotpass-backfill-pool',
      manifest: 'prefect/deployments/hotpass-backfill.yaml',
      manifestDir: 'prefect/staging',
      prefect: { command: ['uv', 'run', 'prefect'] },
      render: {
        deployCommand: ['uv', 'run', 'hotpass', 'deploy', '--manifest-dir', 'prefect/staging', '--flow', 'backfill'],
        readOnly: false,
      },
      run: { since: '2024-01-01', until: '2024-01-07', logFile: 'hotpass-e2e-staging.log', parameters: {} },
      timeouts: { commandSeconds: 120, watchSeconds: 900, apiSeconds: 30, uploadSeconds: 300 },
      ledgers: {
        nextSteps: 'Next_Steps.md',
        nextStepsLog: 'Next_Steps_Log.md',
        rehearsalPlan: 'docs/operations/staging-rehearsal-plan.md',
        owner: 'QA',
      },
    });
    expect(config.render.deployCommand).toEqual(DEPLOY_COMMAND);
    expect(config.render.command).toBeUndefined();
  });

  it('reads rehearse.config.json, filling in the defaults it leaves out', async () => {
    await write(
      'rehearse.config.json',
      JSON.stringify({ deployment: 'hotpass/staging', timeouts: { commandSeconds: 60 } }),
    );
    const { config, file } = await loadConfig({ cwd: dir });
    expect(file).toBe(path.join(dir, 'rehearse.config.json'));
    expect(config.deployment).toBe('hotpass/staging');
    expect(config.timeouts).toEqual({ commandSeconds: 60, watchSeconds: 900, apiSeconds: 30, uploadSeconds: 300 });
    expect(config.workPool).toBe('hotpass-backfill-pool');
  });

  it('reads rehearse.config.yaml', async () => {
    await write(
      'rehearse.config.yaml',
      'workPool: staging-pool\nprefect:\n  command: [prefect]\n  apiUrl: http://prefect.internal:4200/api\n',
    );
    const { config } = await loadConfig({ cwd: dir });
    expect(config.workPool).toBe('staging-pool');
    expect(config.prefect).toEqual({ command: ['prefect'], apiUrl: 'http://prefect.internal:4200/api' });
  });

  it('reads an explicit --config file from anywhere', async () => {
    await write('other.yml', 'deployment: from-explicit\n');
    const { config } = await loadConfig({ cwd: dir, file: 'other.yml' });
    expect(config.deployment).toBe('from-explicit');
  });

  it('lets flags override the file, key by key inside nested settings', async () => {
    await write(
      'rehearse.config.json',
      JSON.stringify({ deployment: 'from-file', run: { since: '2024-02-01', until: '2024-02-07' } }),
    );
    const { config } = await loadConfig({
      cwd: dir,
      overrides: { deployment: 'from-flag', run: { until: '2024-02-03' }, workPool: undefined },
    });
    expect(config.deployment).toBe('from-flag');
    expect([config.run.since, config.run.until]).toEqual(['2024-02-01', '2024-02-03']);
    expect(config.workPool).toBe('hotpass-backfill-pool');
  });

  describe('rejects a bad file with CONFIG_INVALID (exit 2) and one `path: message` per problem', () => {
    it('a value of the wrong type', async () => {
      await write(
        'rehearse.config.json',
        JSON.stringify({ timeouts: { commandSeconds: '120' }, run: { since: '1 Jan 2024' } }),
      );
      const error = await rejection({ cwd: dir });
      expect([error.code, error.exitCode]).toEqual(['CONFIG_INVALID', 2]);
      expect(error.message).toBe('rehearse.config.json is invalid');
      expect(error.details).toHaveLength(2);
      expect(error.details).toEqual(
        expect.arrayContaining([
          expect.stringMatching(/^timeouts\.commandSeconds: .+/),
          'run.since: expected a date as YYYY-MM-DD',
        ]),
      );
    });

    it('an unknown key at the top level', async () => {
      await write('rehearse.config.yaml', 'deploymnet: hotpass-backfill\n');
      const error = await rejection({ cwd: dir });
      expect([error.code, error.exitCode]).toEqual(['CONFIG_INVALID', 2]);
      expect(error.details).toEqual(["(top level): unknown key(s) 'deploymnet'"]);
    });

    it('an unknown nested key', async () => {
      await write('rehearse.config.yaml', 'prefect:\n  comand: [prefect]\n');
      const error = await rejection({ cwd: dir });
      expect(error.details).toEqual(["prefect: unknown key(s) 'comand'"]);
    });

    it('a file that is not JSON', async () => {
      await write('rehearse.config.json', '{ "deployment": ');
      const error = await rejection({ cwd: dir });
      expect([error.code, error.message]).toEqual(['CONFIG_INVALID', 'rehearse.config.json is not valid JSON']);
    });

    it('a file that is not an object of settings', async () => {
      await write('rehearse.config.yaml', '- deployment\n');
      const error = await rejection({ cwd: dir });
      expect([error.code, error.message]).toEqual([
        'CONFIG_INVALID',
        'rehearse.config.yaml must hold an object of settings',
      ]);
    });
  });

  it('refuses two config files at once', async () => {
    await write('rehearse.config.json', '{}');
    await write('rehearse.config.yaml', '{}');
    const error = await rejection({ cwd: dir });
    expect([error.code, error.exitCode]).toEqual(['CONFIG_INVALID', 2]);
    expect(error.message).toBe('more than one config file: rehearse.config.json, rehearse.config.yaml');
  });

  it('refuses an explicit --config file that does not exist', async () => {
    const error = await rejection({ cwd: dir, file: 'missing.json' });
    expect([error.code, error.message]).toEqual(['CONFIG_INVALID', 'config file not found: missing.json']);
  });

  it.each([
    ['above the default maximum of 50', { run: { burst: 51 } }, 'a burst of 51 runs is above the maximum of 50'],
    ['above a configured maximum', { run: { burst: 4, maxBurst: 3 } }, 'a burst of 4 runs is above the maximum of 3'],
  ])('refuses a burst %s as a usage error, before any bundle or run exists', async (_name, overrides, message) => {
    const error = await rejection({ cwd: dir, overrides });
    expect([error.code, error.exitCode]).toEqual(['USAGE', 2]);
    expect(error.details).toEqual([expect.stringContaining(`run.burst: ${message}`)]);
  });

  it('rejects a flag of the wrong type as a usage error naming the key', async () => {
    const error = await rejection({ cwd: dir, overrides: { run: { burst: -1 } } });
    expect([error.code, error.exitCode]).toEqual(['USAGE', 2]);
    expect(error.details).toEqual([expect.stringMatching(/^run\.burst: .+/)]);
  });
});
