import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { main } from '../../../src/cli.js';
import { loadConfig } from '../../../src/config/load.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'rehearse-init-cli-'));
  await mkdir(path.join(dir, 'prefect', 'deployments'), { recursive: true });
  // No pyproject.toml: no deploy CLI is asked, so nothing outside the test runs.
  await writeFile(
    path.join(dir, 'prefect', 'deployments', 'backfill.yaml'),
    'name: nightly-backfill\nwork_pool: pool-a\nparameters: {runs: []}\n',
  );
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('rehearse init, through the command line', () => {
  it('writes once, refuses the second time (exit 2), writes .new with --force, prints with --stdout', async () => {
    const io = { env: {}, cwd: dir };
    expect(await main(['node', 'rehearse', 'init', '--ci'], io)).toBe(0);
    const written = await readFile(path.join(dir, 'rehearse.config.yaml'), 'utf8');
    expect((await loadConfig({ cwd: dir })).config).toMatchObject({
      deployment: 'nightly-backfill',
      workPool: 'pool-a',
      manifest: 'prefect/deployments/backfill.yaml',
    });

    expect(await main(['node', 'rehearse', 'init', '--ci'], io)).toBe(2);
    expect(await main(['node', 'rehearse', 'init', '--ci', '--stdout'], io)).toBe(0);
    expect(existsSync(path.join(dir, 'rehearse.config.yaml.new'))).toBe(false);
    expect(await main(['node', 'rehearse', 'init', '--ci', '--force'], io)).toBe(0);
    expect(await readFile(path.join(dir, 'rehearse.config.yaml.new'), 'utf8')).toBe(written);
    expect(await readFile(path.join(dir, 'rehearse.config.yaml'), 'utf8')).toBe(written);
  });
});
