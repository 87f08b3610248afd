import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { Ajv } from 'ajv';
import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { configJsonSchema, configSchemaPath } from '../../../src/config/json-schema.js';
import { ConfigSchema } from '../../../src/config/schema.js';
import { configText, type InitPlan } from '../../../src/init/config-text.js';

const repo = path.resolve(import.meta.dirname, '..', '..', '..');

// A real JSON Schema validator, as an editor would use one: the schema is judged by what it says, not by zod.
// Formats (uri) are not what this checks; the loader keeps checking them.
const validate = new Ajv({ strict: true, allErrors: true, validateFormats: false }).compile(configJsonSchema());

/** The ```yaml blocks of the README that are configs (the Configuration section and its window example). */
async function readmeConfigs(): Promise<unknown[]> {
  const readme = await readFile(path.join(repo, 'README.md'), 'utf8');
  const blocks = [...readme.matchAll(/```yaml\n([\s\S]*?)```/g)].map((match) => match[1] ?? '');
  return blocks
    .flatMap((block) => parseAllDocuments(block).map((document) => document.toJSON() as unknown))
    .filter(
      (data) =>
        typeof data === 'object' && data !== null && !Array.isArray(data) && ('run' in data || 'prefect' in data),
    );
}

function initPlan(overrides: Partial<InitPlan> = {}): InitPlan {
  return {
    projectDir: '.',
    deployment: 'hotpass-backfill/hotpass-backfill',
    deploymentFrom: 'live',
    workPool: 'hotpass-backfill-pool',
    workPoolFrom: 'live',
    manifest: 'prefect/deployments/hotpass-backfill.yaml',
    manifestDir: 'prefect/staging',
    manifestDirFound: true,
    prefectCommand: ['uv', 'run', 'prefect'],
    deployCommand: ['uv', 'run', 'hotpass', 'deploy', '--manifest-dir', 'prefect/staging', '--flow', 'backfill'],
    deployArgv: ['uv', 'run', 'hotpass', 'deploy'],
    deployDryRun: true,
    window: { mode: 'runs', checked: true, why: 'the flow takes a runs list', accepted: ['runs: list'] },
    runsVersion: 'v2',
    undecided: [],
    ...overrides,
  };
}

/** Configs the tests and the docs use, each valid for the loader. */
const CONFIGS: Record<string, unknown> = {
  'no settings (the defaults)': {},
  'a partial json config': { deployment: 'hotpass/staging', timeouts: { commandSeconds: 60 } },
  'a yaml config': parse(
    'workPool: staging-pool\nprefect:\n  command: [prefect]\n  apiUrl: http://prefect.internal:4200/api\n',
  ),
  'a window': { deployment: 'from-file', run: { since: '2024-02-01', until: '2024-02-07' } },
  faults: { faults: [{ kind: 'cancel-run' }, { kind: 'command', command: 'true', at: 'first-running' }] },
  'parameters of any JSON': {
    projectDir: '/tmp/project',
    run: { since: '2024-01-01', until: '2024-01-01', parameters: { day_seconds: 0.5, notify: { token: 'x' } } },
  },
  expect: parse('expect:\n  workPoolLimit: 10\n'),
  'expect with nulls': { expect: { deploymentLimit: null, globalLimitActive: false, parameters: { a: 1 } } },
  'a deploy command': { render: { deployCommand: ['uv', 'run', 'hotpass', 'deploy', '--flow', 'backfill'] } },
  'a read-only render command': { render: { command: ['make', 'render'], readOnly: true } },
  'slot release': { timeouts: { slotReleaseSeconds: 5 } },
  'upload bound': { timeouts: { uploadSeconds: 4 }, upload: { to: 's3://evidence', region: 'us-east-1' } },
};

/** Configs the loader refuses, each for a reason a schema can say. */
const REFUSED: Record<string, unknown> = {
  'an unknown key': { deploymnet: 'hotpass-backfill' },
  'an unknown nested key': { prefect: { comand: ['prefect'] } },
  'a negative timeout': { timeouts: { commandSeconds: -1 } },
  'a zero timeout': { timeouts: { watchSeconds: 0 } },
  'a number as a string': { timeouts: { commandSeconds: '120' } },
  'a date in another form': { run: { since: '1 Jan 2024' } },
  'a wrong type': { deployment: 5 },
  'an unknown key under run': { run: { burts: 3 } },
  'a fraction of a burst': { run: { burst: 2.5 } },
  'an unknown fault': { faults: [{ kind: 'kill-everything' }] },
  'an unknown moment': { faults: [{ kind: 'cancel-run', at: 'lunchtime' }] },
  'a command fault without a command': { faults: [{ kind: 'command' }] },
  'a log file path': { run: { logFile: 'logs/run.log' } },
  'an empty command': { prefect: { command: [] } },
  'an unknown window mode': { run: { window: { mode: 'weekly' } } },
  'a collision strategy of another server': { expect: { collisionStrategy: 'QUEUE' } },
};

describe('the JSON Schema of rehearse.config', () => {
  it('accepts every config the tests use, the README shows and init writes', async () => {
    const readme = await readmeConfigs();
    expect(readme.length).toBeGreaterThanOrEqual(2);
    const written = [
      initPlan(),
      initPlan({ deployDryRun: false, deployFlags: ['--flow'], apiUrl: 'http://127.0.0.1:4200/api', apiFrom: 'env' }),
      initPlan({ window: { mode: 'auto', checked: false, why: 'no server', accepted: [] }, deployCommand: undefined }),
    ].map((plan) => parse(configText(plan, new Date('2026-12-06T00:00:00Z'))) as unknown);
    const all = [
      ...Object.entries(CONFIGS),
      ...readme.map((c, i) => [`README #${i}`, c]),
      ...written.map((c, i) => [`init #${i}`, c]),
    ];
    for (const [name, config] of all as [string, unknown][]) {
      // Each is one the loader takes, and so must the schema.
      expect(ConfigSchema.safeParse(config).success, `${name} (zod)`).toBe(true);
      expect(validate(config), `${name}: ${JSON.stringify(validate.errors)}`).toBe(true);
    }
  });

  it('refuses what the loader refuses: unknown keys, negative timeouts, wrong types', () => {
    for (const [name, config] of Object.entries(REFUSED)) {
      expect(ConfigSchema.safeParse(config).success, `${name} (zod)`).toBe(false);
      expect(validate(config), name).toBe(false);
    }
  });

  it('makes no key required: every one has a default or is optional', () => {
    const schema = configJsonSchema() as { required?: unknown; properties: Record<string, { required?: string[] }> };
    expect(schema.required).toBeUndefined();
    expect(schema.properties.timeouts?.required).toBeUndefined();
    expect(schema.properties.run?.required).toBeUndefined();
  });

  it('init writes the yaml-language-server line first, pointing at the schema the package ships', () => {
    const text = configText(initPlan(), new Date('2026-12-06T00:00:00Z'));
    const first = text.split('\n')[0] ?? '';
    expect(first).toBe(`# yaml-language-server: $schema=${configSchemaPath()}`);
    expect(path.isAbsolute(configSchemaPath())).toBe(true);
    expect(configSchemaPath()).toBe(path.join(repo, 'dist', 'rehearse.config.schema.json'));
  });
});
