import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import fs from 'fs-extra';
import type { TestProject } from 'vitest/node';

const repo = path.resolve(import.meta.dirname, '..', '..');
const UP = ['sandbox', 'up', '--database', 'postgres', '--workers', '2', '--auth'];

declare module 'vitest' {
  export interface ProvidedContext {
    sandboxHome: string;
  }
}

/**
 * One real sandbox for the whole end-to-end suite, started and stopped through the CLI itself, and
 * shaped like staging: PostgreSQL, two workers on the pool, basic auth. (The upstream and outage
 * cases start SQLite sandboxes of their own.)
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const home = await fs.mkdtemp(path.join(os.tmpdir(), 'rehearse-e2e-'));
  const env = { ...process.env, REHEARSE_SANDBOX_HOME: home, CI: '1' };
  const up = await execa('node', [path.join(repo, 'bin/rehearse.js'), ...UP], {
    env,
    reject: false,
    all: true,
  });
  if (up.exitCode !== 0) throw new Error(`sandbox up failed (exit ${up.exitCode}):\n${up.all}`);
  project.provide('sandboxHome', home);
  return async () => {
    await execa('node', [path.join(repo, 'bin/rehearse.js'), 'sandbox', 'down', '--purge'], { env, reject: false });
  };
}
