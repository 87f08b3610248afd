import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import fs from 'fs-extra';
import type { TestProject } from 'vitest/node';

const repo = path.resolve(import.meta.dirname, '..', '..');
const UP = ['sandbox', 'up', '--database', 'postgres', '--workers', '2', '--auth'];

declare module 'vitest' {
  export interface ProvidedContext {
    /** One sandbox per e2e worker: worker N (VITEST_POOL_ID) uses sandboxHomes[N - 1]. */
    sandboxHomes: string[];
  }
}

/** How many test files run at once, each on a sandbox of its own (see vitest.config.ts). */
const E2E_WORKERS = Math.max(1, Number(process.env.REHEARSE_E2E_WORKERS ?? 2) || 1);

const cli = (args: string[], home: string) =>
  execa('node', [path.join(repo, 'bin/rehearse.js'), ...args], {
    env: { ...process.env, REHEARSE_SANDBOX_HOME: home, CI: '1' },
    reject: false,
    all: true,
  });

/**
 * Real sandboxes for the end-to-end suite, started and stopped through the CLI itself, and shaped
 * like staging: PostgreSQL, two workers on the pool, basic auth. One per e2e worker, so that two test
 * files run side by side without sharing a server, a deployment or a limit. (The upstream and outage
 * cases start SQLite sandboxes of their own.)
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const homes = await Promise.all(
    Array.from({ length: E2E_WORKERS }, () => fs.mkdtemp(path.join(os.tmpdir(), 'rehearse-e2e-'))),
  );
  const down = () => Promise.all(homes.map((home) => cli(['sandbox', 'down', '--purge'], home)));
  const ups = await Promise.all(homes.map((home) => cli(UP, home)));
  const failed = ups.find((up) => up.exitCode !== 0);
  if (failed) {
    await down();
    throw new Error(`sandbox up failed (exit ${failed.exitCode}):\n${failed.all}`);
  }
  project.provide('sandboxHomes', homes);
  return async () => {
    await down();
  };
}
