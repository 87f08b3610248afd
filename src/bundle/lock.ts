import { randomBytes } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import fs from 'fs-extra';
import { z } from 'zod';
import { RehearseError } from '../errors.js';
import { isAlive } from '../process/daemon.js';
import { readProcStatSync } from '../process/proc.js';
import { type Clock, systemClock } from '../util/clock.js';

/** Held by the command working in a bundle; left behind only when that command died without a word. */
export const LOCK_FILE = '.rehearse.lock';

const LockOwnerSchema = z.object({
  pid: z.number().int(),
  host: z.string(),
  startedAt: z.string(),
  command: z.string(),
  token: z.string(),
  /** The kernel's start time of the owner process, so a pid reused by another process is not taken for it. */
  processStart: z.string().optional(),
});
export type LockOwner = z.infer<typeof LockOwnerSchema>;

export type LockState = { state: 'free' } | { state: 'held'; owner: LockOwner } | { state: 'stale'; owner: LockOwner };

export interface BundleLock {
  owner: LockOwner;
  /** The dead owner whose lock this one replaced: the bundle may have been abandoned. */
  previous?: LockOwner;
  /** Removes the lock file if it is still this one; safe to call twice or after the bundle is gone. */
  release(): Promise<void>;
}

/** The kernel's start time of a process (clock ticks since boot); undefined off Linux. */
export const readProcessStart = (pid: number): string | undefined => readProcStatSync(pid)?.startTime;

/** An owner on another host cannot be checked from here, so it counts as alive. */
export function isOwnerAlive(owner: LockOwner, host = os.hostname()): boolean {
  if (owner.host !== host) return true;
  if (!isAlive(owner.pid)) return false;
  const start = readProcessStart(owner.pid);
  return owner.processStart === undefined || start === undefined || start === owner.processStart;
}

function parseOwner(text: string): ReturnType<typeof LockOwnerSchema.safeParse> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    value = undefined;
  }
  return LockOwnerSchema.safeParse(value);
}

export async function readLock(dir: string): Promise<LockState> {
  const text = await fs.readFile(path.join(dir, LOCK_FILE), 'utf8').catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT' || error.code === 'ENOTDIR') return undefined;
    throw error;
  });
  if (text === undefined) return { state: 'free' };
  const parsed = parseOwner(text);
  // A lock rehearse cannot read was not written by a live rehearse (it writes the file whole): stale.
  if (!parsed.success) return { state: 'stale', owner: { pid: 0, host: '?', startedAt: '?', command: '?', token: '' } };
  return isOwnerAlive(parsed.data) ? { state: 'held', owner: parsed.data } : { state: 'stale', owner: parsed.data };
}

/** Create the lock file whole or not at all: written aside, then hard-linked into place (fails if it exists). */
async function tryCreate(dir: string, owner: LockOwner): Promise<boolean> {
  const temp = path.join(dir, `.rehearse.lock.${owner.token}.tmp`);
  await fs.writeFile(temp, `${JSON.stringify(owner)}\n`);
  try {
    await fs.link(temp, path.join(dir, LOCK_FILE));
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  } finally {
    await fs.remove(temp);
  }
}

export function describeOwner(owner: LockOwner): string {
  return `rehearse ${owner.command} (pid ${owner.pid} on ${owner.host}, since ${owner.startedAt})`;
}

export interface LockOptions {
  command: string;
  /** How long to wait for a live owner to finish before refusing. */
  waitMs?: number;
  pollMs?: number;
  now?: () => Date;
  /** The time the wait is measured in (default: the system's). */
  clock?: Clock;
}

/**
 * Take the bundle's lock. A live owner is waited for briefly, then refused (BUNDLE_LOCKED, exit 3:
 * nothing is wrong with the command, the bundle is busy). A dead owner's lock is taken over and
 * returned as `previous`, so the caller can tell that the bundle may have been abandoned.
 */
export async function lockBundle(dir: string, options: LockOptions): Promise<BundleLock> {
  const now = options.now ?? (() => new Date());
  const processStart = readProcessStart(process.pid);
  const owner: LockOwner = {
    pid: process.pid,
    host: os.hostname(),
    startedAt: now().toISOString(),
    command: options.command,
    token: randomBytes(8).toString('hex'),
    ...(processStart ? { processStart } : {}),
  };
  const clock = options.clock ?? systemClock;
  const deadline = clock.now() + (options.waitMs ?? 5_000);
  let previous: LockOwner | undefined;
  for (;;) {
    if (await tryCreate(dir, owner)) {
      return { owner, release: () => releaseLock(dir, owner), ...(previous ? { previous } : {}) };
    }
    const state = await readLock(dir);
    if (state.state === 'stale') {
      previous = state.owner;
      await fs.remove(path.join(dir, LOCK_FILE));
      continue;
    }
    if (state.state === 'held' && clock.now() >= deadline) {
      throw new RehearseError('BUNDLE_LOCKED', `bundle ${dir} is in use by ${describeOwner(state.owner)}`, {
        hint:
          'wait for that command to finish and rerun, or start a new bundle with --new-bundle; ' +
          'two commands writing one bundle would lose records',
        details: [`lock file: ${path.join(dir, LOCK_FILE)}`],
      });
    }
    await clock.sleep(options.pollMs ?? 250);
  }
}

async function releaseLock(dir: string, owner: LockOwner): Promise<void> {
  const file = path.join(dir, LOCK_FILE);
  const text = await fs.readFile(file, 'utf8').catch(() => undefined);
  if (text === undefined) return;
  const current = parseOwner(text);
  if (current.success && current.data.token === owner.token) await fs.remove(file);
}
