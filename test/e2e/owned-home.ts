import os from 'node:os';
import path from 'node:path';
import fs from 'fs-extra';
import { type LockOwner, readProcessStart } from '../../src/bundle/lock.js';

/**
 * Every sandbox home the e2e suite makes starts with this prefix and holds an owner file naming the
 * process it belongs to: the next suite's set-up stops and purges the homes whose owner is gone (a suite
 * killed mid-run leaves no server, worker or database behind for long).
 */
export const HOME_PREFIX = 'rehearse-e2e-';
export const OWNER_FILE = 'e2e-owner.json';

/** A fresh sandbox home (`rehearse-e2e-<label>-…`) that names this process as its owner. */
export async function ownedHome(label = ''): Promise<string> {
  const home = await fs.mkdtemp(path.join(os.tmpdir(), `${HOME_PREFIX}${label ? `${label}-` : ''}`));
  const processStart = readProcessStart(process.pid);
  const owner: LockOwner = {
    pid: process.pid,
    host: os.hostname(),
    startedAt: new Date().toISOString(),
    command: 'e2e',
    token: path.basename(home),
    ...(processStart ? { processStart } : {}),
  };
  await fs.writeJson(path.join(home, OWNER_FILE), owner);
  return home;
}

/** Written into an e2e sandbox's home once its `sandbox up` has ended: its exit code and, when it failed, its output. */
export const UP_MARKER = 'e2e-sandbox-up.json';
