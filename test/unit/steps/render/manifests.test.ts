import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadManifests, parseDeployArgs, renderSpec } from '../../../../src/steps/render/manifests.js';
import { commandWords, listedOptions } from '../../../../src/steps/render/plan.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'rehearse-manifests-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function put(rel: string, text: string): Promise<void> {
  await mkdir(path.dirname(path.join(dir, rel)), { recursive: true });
  await writeFile(path.join(dir, rel), text);
}

describe('parseDeployArgs', () => {
  it('reads both flag spellings and repeated --flow', () => {
    expect(
      parseDeployArgs([
        'uv',
        'run',
        'hotpass',
        'deploy',
        '--flow',
        'a',
        '--flow=b',
        '--manifest-dir=prefect/prod',
        '--name',
        'n',
        '--work-pool',
        'p',
        '--schedule',
        '0 2 * * *',
      ]),
    ).toEqual({ manifestDir: 'prefect/prod', flows: ['a', 'b'], name: 'n', workPool: 'p', schedule: '0 2 * * *' });
  });
});

describe('loadManifests', () => {
  it('finds manifests at any depth, ids from `id` or the file name, the deeper file winning a shared id', async () => {
    await put('prefect/backfill.yaml', 'id: backfill\nname: shallow\n');
    await put('prefect/deployments/hotpass-backfill.yaml', 'id: backfill\nname: deep\n');
    await put('prefect/refinement.yml', 'name: refinement\n');
    await put('prefect/README.md', '# not a manifest\n');

    const found = await loadManifests(dir, 'prefect');
    expect(found.map((m) => [m.id, m.rel, m.doc.name])).toEqual([
      ['backfill', 'prefect/deployments/hotpass-backfill.yaml', 'deep'],
      ['refinement', 'prefect/refinement.yml', 'refinement'],
    ]);
  });

  it('refuses a manifest that is not a mapping, as the deploy would', async () => {
    await put('prefect/broken.yaml', '- a\n- b\n');
    await expect(loadManifests(dir, 'prefect')).rejects.toMatchObject({
      code: 'CONFIG_INVALID',
      message: 'manifest prefect/broken.yaml is not a mapping',
    });
  });
});

describe('renderSpec', () => {
  const source = {
    id: 'backfill',
    rel: 'prefect/x.yaml',
    text: '',
    doc: { name: 'n', schedule: { kind: 'interval', value: 60, timezone: 'UTC', active: false } },
  };

  it('registers a manifest with an inactive schedule paused, and an explicit paused wins', () => {
    expect(renderSpec(source, { manifestDir: undefined, flows: [] })).toMatchObject({ paused: true });
    expect(
      renderSpec({ ...source, doc: { ...source.doc, paused: false } }, { manifestDir: undefined, flows: [] }),
    ).toMatchObject({ paused: false });
    expect(renderSpec({ ...source, doc: { name: 'n' } }, { manifestDir: undefined, flows: [] })).toMatchObject({
      paused: false,
    });
  });

  it('turns --schedule into a cron schedule keeping the timezone', () => {
    expect(renderSpec(source, { manifestDir: undefined, flows: [], schedule: '0 2 * * *' }).schedule).toEqual({
      kind: 'cron',
      value: '0 2 * * *',
      timezone: 'UTC',
    });
  });
});

describe('reading a deploy command', () => {
  it('takes the words before the first flag as the command to ask --help', () => {
    expect(commandWords(['uv', 'run', 'hotpass', 'deploy', '--flow', 'backfill'])).toEqual([
      'uv',
      'run',
      'hotpass',
      'deploy',
    ]);
  });

  it('lists the options of argparse and rich help, not words that merely contain dashes', () => {
    const options = listedOptions(
      'usage: hotpass deploy [-h] [--dry-run]\n  --no-upload  do not upload\n│ --work-pool  TEXT │\nre-run the pre--dry-run step',
    );
    expect([...options].sort()).toEqual(['--dry-run', '--no-upload', '--work-pool']);
  });
});
