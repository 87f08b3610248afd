import path from 'node:path';
import fs from 'fs-extra';
import { isUnsummed, walkEntries } from '../bundle/checksums.js';
import type { VerifyProblem } from './problem.js';

/**
 * What is really in a bundle directory, looked at without following links: regular files are evidence,
 * anything else (a symbolic link, a FIFO, a device) is refused, since it can point outside the bundle
 * or change what a reader sees without changing the bundle.
 */
export interface BundleContents {
  /** Regular files, posix paths relative to the bundle, sorted; SHA256SUMS, the lock and temp files left out. */
  files: string[];
  problems: VerifyProblem[];
}

export async function walkBundle(dir: string): Promise<BundleContents> {
  const files: string[] = [];
  const problems: VerifyProblem[] = [];
  for (const { rel, entry } of await walkEntries(dir)) {
    if (entry.isFile()) {
      if (!isUnsummed(rel)) files.push(rel);
    } else if (entry.isSymbolicLink()) {
      const to = await fs.readlink(path.join(dir, rel)).catch(() => '?');
      problems.push({
        kind: 'not-regular',
        path: rel,
        detail: `a symbolic link (to ${to}): a bundle holds only regular files`,
      });
    } else {
      problems.push({
        kind: 'not-regular',
        path: rel,
        detail: 'not a regular file (a FIFO, socket or device): a bundle holds only regular files',
      });
    }
  }
  return { files: files.sort(), problems };
}

/** A path as SHA256SUMS or summary.json names it: relative, '/'-separated, no '.' or '..' segments. */
export function isPlainBundlePath(rel: string): boolean {
  if (rel === '' || rel.startsWith('/') || rel.includes('\\') || /^[a-zA-Z]:/.test(rel)) return false;
  return rel.split('/').every((segment) => segment !== '' && segment !== '.' && segment !== '..');
}

/**
 * The bytes of a bundle file, read only when the path is plain and leads, without any link on the
 * way, to a regular file inside the bundle; undefined otherwise (absent, a link, outside).
 */
export async function readBundleFile(dir: string, rel: string): Promise<Buffer | undefined> {
  const full = await bundleFilePath(dir, rel);
  return full === undefined ? undefined : fs.readFile(full);
}

/** The path of a bundle file under the same rules as readBundleFile, for a reader that streams it. */
export async function bundleFilePath(dir: string, rel: string): Promise<string | undefined> {
  if (!isPlainBundlePath(rel)) return undefined;
  const full = path.join(dir, ...rel.split('/'));
  const stat = await fs.lstat(full).catch(() => undefined);
  if (!stat?.isFile()) return undefined;
  const [realDir, realFull] = await Promise.all([fs.realpath(dir), fs.realpath(full)]).catch(() => [
    undefined,
    undefined,
  ]);
  if (realDir === undefined || realFull !== path.join(realDir, ...rel.split('/'))) return undefined;
  return full;
}

export async function readBundleText(dir: string, rel: string): Promise<string | undefined> {
  return (await readBundleFile(dir, rel))?.toString('utf8');
}
