import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import fs from 'fs-extra';
import type { TestProject } from 'vitest/node';
import { isOwnerAlive, type LockOwner } from '../../src/bundle/lock.js';
import { HOME_PREFIX, OWNER_FILE, ownedHome, UP_MARKER } from './owned-home.js';
import { E2E_WORKERS } from './workers.js';

const repo = path.resolve(import.meta.dirname, '..', '..');
const UP = ['sandbox', 'up', '--database', 'postgres', '--workers', '2', '--auth'];

declare module 'vitest' {
  export interface ProvidedContext {
    /** One sandbox per e2e worker: worker N (VITEST_POOL_ID) uses sandboxHomes[N - 1]. */
    sandboxHomes: string[];
  }
}

const cli = (args: string[], home: string) =>
  execa('node', [path.join(repo, 'bin/rehearse.js'), ...args], {
    env: { ...process.env, REHEARSE_SANDBOX_HOME: home, CI: '1' },
    reject: false,
    all: true,
  });

/**
 * Real sandboxes for the end-to-end suite, started and stopped through the CLI itself, and shaped
 * like staging: PostgreSQL, two workers on the pool, basic auth. One per e2e worker, so that test
 * files run side by side without sharing a server, a deployment or a limit. (The upstream and outage
 * cases start SQLite sandboxes of their own.) They start in the background while the unit tests run
 * (vitest.config.ts runs those first): each e2e file waits for its own to be up (support.ts,
 * claimSandbox), and teardown waits for every start before it stops them.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  await stopOrphans();
  const homes = await Promise.all(Array.from({ length: E2E_WORKERS }, () => ownedHome()));
  const ups = homes.map(async (home) => {
    const up = await cli(UP, home);
    const failed = up.exitCode !== 0 ? { output: up.all } : {};
    await fs.writeJson(path.join(home, UP_MARKER), { exitCode: up.exitCode, ...failed });
  });
  project.provide('sandboxHomes', homes);
  return async () => {
    await Promise.allSettled(ups);
    await Promise.all(homes.map((home) => cli(['sandbox', 'down', '--purge'], home)));
  };
}

/**
 * The sandboxes of an earlier run killed before its teardown (during this set-up, say) outlive it:
 * each home whose owner (this suite's vitest, or the test file's worker for a file's own sandbox) is gone
 * is stopped and purged. Homes of runs still alive (another
 * checkout's suite on the same machine) are left alone.
 */
async function stopOrphans(): Promise<void> {
  const names = (await fs.readdir(os.tmpdir())).filter((name) => name.startsWith(HOME_PREFIX));
  await Promise.all(
    names.map(async (name) => {
      const home = path.join(os.tmpdir(), name);
      const owner = (await fs.readJson(path.join(home, OWNER_FILE)).catch(() => undefined)) as LockOwner | undefined;
      if (!owner?.pid || isOwnerAlive(owner)) return;
      const down = await cli(['sandbox', 'down', '--purge'], home);
      const stopped = (down.all ?? '').split('\n').filter((line) => line.startsWith('stopped '));
      const outcome =
        down.exitCode === 0
          ? `purged; ${stopped.join('; ') || 'nothing was running'}`
          : `not stopped (exit ${down.exitCode}): ${down.all}`;
      console.warn(`the sandbox of an earlier e2e run (vitest pid ${owner.pid}, gone) at ${home}: ${outcome}`);
    }),
  );
}
