import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  canonicalJson,
  computeDrift,
  type DriftRow,
  driftedRows,
  flattenParameters,
} from '../../../src/guardrails/drift.js';
import { type Manifest, parseManifestText } from '../../../src/guardrails/manifest.js';
import { type Deployment, DeploymentSchema } from '../../../src/prefect/schemas.js';
import { recordedDeployment } from '../../support/fake-api.js';

const REPO = 'prefect/deployments/hotpass-backfill.yaml';
const STAGING = 'prefect/staging/backfill.yaml';
const fixture = (rel: string) => readFileSync(new URL(`../../../fixtures/hotpass/${rel}`, import.meta.url), 'utf8');
const repoText = fixture(REPO);
const stagingText = fixture(STAGING);

/** The staging overlay with one line replaced; fails the test if the line was not there. */
function stagingWith(line: RegExp, replacement: string): string {
  const text = stagingText.replace(line, replacement);
  expect(text).not.toBe(stagingText);
  return text;
}

const manifest = (text: string, source: string): Promise<Manifest> => parseManifestText(text, source);
const live = (edit: (d: ReturnType<typeof recordedDeployment>) => void = () => undefined): Deployment => {
  const raw = recordedDeployment();
  edit(raw);
  return DeploymentSchema.parse(raw);
};

async function drift(options: { staging?: string; deployment?: Deployment } = {}): Promise<DriftRow[]> {
  return computeDrift(
    await manifest(repoText, REPO),
    await manifest(options.staging ?? stagingText, STAGING),
    options.deployment ?? live(),
  );
}
const driftedKeys = (rows: DriftRow[]) => driftedRows(rows).map((r) => r.key);
const row = (rows: DriftRow[], key: string) => rows.find((r) => r.key === key);

describe('computeDrift', () => {
  it('finds no drift when the repository, the staging overlay and the recorded deployment agree', async () => {
    const rows = await drift();
    expect(driftedKeys(rows)).toEqual([]);
    expect(rows.map((r) => r.key)).toEqual([
      'deployment.concurrency_limit',
      'deployment.collision_strategy',
      'deployment.work_pool',
      'deployment.schedule_active',
      'archive_root',
      'concurrency_key',
      'concurrency_limit',
      'parameters.pipeline.backfill',
      'parameters.pipeline.incremental',
      'parameters.pipeline.since',
      'restore_root',
      'runs',
    ]);
    expect(row(rows, 'deployment.concurrency_limit')).toMatchObject({ repo: 2, rendered: 2, live: 2 });
    expect(row(rows, 'parameters.pipeline.backfill')).toMatchObject({ repo: true, rendered: true, live: true });
  });

  it('reports a limit changed in the staging overlay, and only that', async () => {
    const rows = await drift({ staging: stagingWith(/^concurrency_limit: 2$/m, 'concurrency_limit: 3') });
    expect(driftedKeys(rows)).toEqual(['deployment.concurrency_limit']);
    expect(row(rows, 'deployment.concurrency_limit')).toEqual({
      key: 'deployment.concurrency_limit',
      repo: 2,
      rendered: 3,
      live: 2,
      drifted: true,
    });
  });

  it('reports a parameter leaf changed on the live deployment by its dotted path', async () => {
    const deployment = live((d) => {
      (d.parameters.parameters as { pipeline: { backfill: boolean } }).pipeline.backfill = false;
    });
    const rows = await drift({ deployment });
    expect(driftedKeys(rows)).toEqual(['parameters.pipeline.backfill']);
    expect(row(rows, 'parameters.pipeline.backfill')).toMatchObject({ repo: true, rendered: true, live: false });
  });

  it('counts a key missing from the rendered overlay as drift', async () => {
    const rows = await drift({ staging: stagingWith(/^ {2}archive_root: .*\n/m, '') });
    expect(driftedKeys(rows)).toEqual(['archive_root']);
    expect(row(rows, 'archive_root')).toEqual({
      key: 'archive_root',
      repo: 'dist/input-archives',
      rendered: undefined,
      live: 'dist/input-archives',
      drifted: true,
    });
  });

  it('counts a null leaf against a missing one as drift', async () => {
    const deployment = live((d) => {
      delete (d.parameters.parameters as { pipeline: Record<string, unknown> }).pipeline.since;
    });
    const rows = await drift({ deployment });
    expect(driftedKeys(rows)).toEqual(['parameters.pipeline.since']);
    expect(row(rows, 'parameters.pipeline.since')).toMatchObject({ repo: null, rendered: null, live: undefined });
  });

  it('reports a schedule active live while both manifests keep it inactive', async () => {
    const deployment = live((d) => {
      (d.schedules as { active: boolean }[])[0]!.active = true;
    });
    const rows = await drift({ deployment });
    expect(driftedKeys(rows)).toEqual(['deployment.schedule_active']);
    expect(row(rows, 'deployment.schedule_active')).toMatchObject({ repo: false, rendered: false, live: true });
  });

  it('takes an inactive live limit for no limit', async () => {
    const deployment = live((d) => {
      (d.global_concurrency_limit as { active: boolean }).active = false;
    });
    const rows = await drift({ deployment });
    expect(driftedKeys(rows)).toEqual(['deployment.concurrency_limit']);
    expect(row(rows, 'deployment.concurrency_limit')).toMatchObject({ repo: 2, rendered: 2, live: null });
  });

  it('ignores the order of keys, which the server does not keep', async () => {
    const deployment = live((d) => {
      d.parameters = Object.fromEntries(Object.entries(d.parameters).reverse());
      d.parameters.runs = [{ until: '2024-01-07', since: '2024-01-01' }];
    });
    const staging = stagingWith(/^ {2}runs: \[\]$/m, '  runs:\n    - since: "2024-01-01"\n      until: "2024-01-07"');
    const repo = repoText.replace(/^ {2}runs: \[\]$/m, '  runs:\n    - since: "2024-01-01"\n      until: "2024-01-07"');
    const rows = computeDrift(await manifest(repo, REPO), await manifest(staging, STAGING), deployment);
    expect(driftedKeys(rows)).toEqual([]);
    expect(row(rows, 'runs')?.live).toEqual([{ until: '2024-01-07', since: '2024-01-01' }]);
  });
});

describe('flattenParameters and canonicalJson', () => {
  it('keeps arrays and empty objects as leaves', () => {
    expect([...flattenParameters({ a: { b: { c: 1 } }, list: [{ x: 1 }], empty: {}, none: null })]).toEqual([
      ['a.b.c', 1],
      ['list', [{ x: 1 }]],
      ['empty', {}],
      ['none', null],
    ]);
  });

  it('sorts object keys at every depth and leaves undefined undefined', () => {
    expect(canonicalJson({ b: 1, a: [{ d: 1, c: 2 }] })).toBe('{"a":[{"c":2,"d":1}],"b":1}');
    expect(canonicalJson(undefined)).toBeUndefined();
  });
});
