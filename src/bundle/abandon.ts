import path from 'node:path';
import fs from 'fs-extra';
import { isRehearseError, RehearseError } from '../errors.js';
import { BUNDLE_NAME, type Bundle, readSummary, writeChecksumManifest } from './bundle.js';
import { type BundleLock, describeOwner, type LockOwner, lockBundle, readLock } from './lock.js';
import { updateNotes } from './notes.js';
import type { Summary } from './summary.js';
import { newSummary, saveSummary, settleVerdict } from './summary-io.js';

export interface AbandonedBundle {
  dir: string;
  name: string;
  /** The command that died in it, when its lock said so. */
  owner?: LockOwner;
}

const cleanupAdvice = (dir: string): string =>
  `its flow runs may still be running and holding concurrency slots: run \`rehearse cleanup --bundle ${dir}\``;

/** The command that died in a bundle, as far as its lock says. */
const ownerText = (owner: LockOwner | undefined): string =>
  owner && owner.pid > 0 ? describeOwner(owner) : 'the rehearse command working in it';

function abandonedNote(owner: LockOwner | undefined, now: Date): string {
  return [
    `${ownerText(owner)} stopped without recording how it ended (killed, or the machine went down);`,
    `rehearse noticed at ${now.toISOString()}.`,
    '',
    'Nothing in this bundle proves a guardrail: it can never pass. Its runs were not cancelled by rehearse;',
    '`rehearse cleanup --bundle <this bundle>` cancels those still live and frees the slots they hold.',
  ].join('\n');
}

/**
 * Record that the command working in a bundle died: status abandoned, verdict never a pass, a note
 * saying so, checksums current. The caller holds the bundle's lock.
 */
export async function markAbandoned(dir: string, owner: LockOwner | undefined, now: Date): Promise<Summary> {
  // Its texts were redacted when they were written; nothing new here can hold a secret.
  const bundle: Bundle = { dir, name: path.basename(dir), redact: (text) => text };
  // A command killed during its first step had not written summary.json yet: the bundle gets one saying so.
  const known = owner && owner.pid > 0 ? owner : undefined;
  const started = known && !Number.isNaN(Date.parse(known.startedAt)) ? new Date(known.startedAt) : now;
  const summary = (await readSummary(dir)) ?? newSummary(bundle, started, {});
  const who = known ? { pid: known.pid, host: known.host, command: known.command, startedAt: known.startedAt } : {};
  // settleVerdict never gives an abandoned bundle a pass (only a complete one can have it), and exits 3 unless a check failed.
  const next: Summary = {
    ...settleVerdict(summary, 'abandoned'),
    abandoned: { ...who, detectedAt: now.toISOString() },
  };
  await updateNotes(bundle, 'abandoned', 'Abandoned', abandonedNote(owner, now), now);
  await saveSummary(bundle, next, now);
  await writeChecksumManifest(bundle);
  return next;
}

/**
 * An `in-progress` bundle whose lock is free or left by a dead process has no one working in it:
 * its owner died; so did the owner of a dead process's lock on a bundle with no summary.json yet.
 * Marks it abandoned (under its lock, so a command finishing just now is not mistaken for a dead
 * one) and says whether it did.
 */
export async function abandonIfOrphaned(dir: string, command: string, now: Date): Promise<AbandonedBundle | undefined> {
  const lockState = await readLock(dir);
  if (lockState.state === 'held') return undefined;
  const summary = await readSummary(dir);
  // No summary.json and no lock: not a bundle yet (or a stranger), never one to mark.
  if (summary ? summary.status !== 'in-progress' : lockState.state !== 'stale') return undefined;
  let lock: BundleLock;
  try {
    lock = await lockBundle(dir, { command, waitMs: 0 });
  } catch (error) {
    if (isRehearseError(error) && error.code === 'BUNDLE_LOCKED') return undefined;
    throw error;
  }
  try {
    const again = await readSummary(dir);
    if (again ? again.status !== 'in-progress' : !lock.previous) return undefined;
    await markAbandoned(dir, lock.previous, now);
    return { dir, name: path.basename(dir), ...(lock.previous ? { owner: lock.previous } : {}) };
  } finally {
    await lock.release();
  }
}

/** Every bundle under root whose owner died, marked abandoned now (those marked before are not repeated). */
export async function sweepAbandoned(root: string, command: string, now: Date): Promise<AbandonedBundle[]> {
  if (!(await fs.pathExists(root))) return [];
  const found: AbandonedBundle[] = [];
  for (const name of (await fs.readdir(root)).filter((n) => BUNDLE_NAME.test(n)).sort()) {
    const marked = await abandonIfOrphaned(path.join(root, name), command, now);
    if (marked) found.push(marked);
  }
  return found;
}

/**
 * Lock the bundle a command is about to write. One still `in-progress` under a lock we could take was
 * left by a command that died: it is marked abandoned and refused, never added to.
 */
export async function claimBundle(dir: string, command: string, now: Date): Promise<BundleLock> {
  const lock = await lockBundle(dir, { command });
  try {
    if ((await readSummary(dir))?.status === 'in-progress') {
      await markAbandoned(dir, lock.previous, now);
      const message =
        `bundle ${path.basename(dir)} was abandoned: ${ownerText(lock.previous)} died ` +
        'without recording how it ended';
      throw new RehearseError('BUNDLE_ABANDONED', message, {
        hint: `${cleanupAdvice(dir)}; then start a new rehearsal (the bundle is marked abandoned and never passes)`,
      });
    }
  } catch (error) {
    await lock.release();
    throw error;
  }
  return lock;
}

/** Where the warnings go: the command's reporter. */
interface Warnings {
  emit(event: { type: 'warn'; message: string }): void;
}

/** Say which bundles were just found abandoned, and what to do about their runs. */
export function reportAbandoned(reporter: Warnings, found: readonly AbandonedBundle[], cwd: string): void {
  for (const bundle of found) {
    const dir = path.relative(cwd, bundle.dir) || bundle.dir;
    const message = `bundle ${dir} abandoned: ${ownerText(bundle.owner)} died without recording how it ended; ${cleanupAdvice(dir)}`;
    reporter.emit({ type: 'warn', message });
  }
}
