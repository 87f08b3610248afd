import { createHash } from 'node:crypto';
import { createReadStream, type Dirent } from 'node:fs';
import path from 'node:path';
import fs from 'fs-extra';
import { LOCK_FILE } from './lock.js';

export const CHECKSUM_FILE = 'SHA256SUMS';

export interface FileDigest {
  path: string;
  sha256: string;
  bytes: number;
}

export async function sha256OfFile(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Files SHA256SUMS does not list: itself, the bundle's lock, and temp files of writes under way. */
export const isUnsummed = (rel: string): boolean =>
  rel === CHECKSUM_FILE || rel === LOCK_FILE || /(^|\/)\.[^/]+\.tmp$/.test(rel);

/** Everything under dir but the directories themselves, with posix paths relative to it; links are not followed. */
export async function walkEntries(dir: string): Promise<{ rel: string; entry: Dirent }[]> {
  const out: { rel: string; entry: Dirent }[] = [];
  const walk = async (under: string): Promise<void> => {
    for (const entry of await fs.readdir(path.join(dir, under), { withFileTypes: true })) {
      const rel = under ? `${under}/${entry.name}` : entry.name;
      if (entry.isDirectory()) await walk(rel);
      else out.push({ rel, entry });
    }
  };
  await walk('');
  return out;
}

/** Every regular file under dir (posix relative paths, sorted), except the checksum manifest and temp files. */
export async function listBundleFiles(dir: string): Promise<string[]> {
  const entries = await walkEntries(dir);
  return entries
    .filter(({ rel, entry }) => entry.isFile() && !isUnsummed(rel))
    .map(({ rel }) => rel)
    .sort();
}

export async function digestBundle(dir: string): Promise<FileDigest[]> {
  const files = await listBundleFiles(dir);
  return Promise.all(
    files.map(async (rel) => {
      const full = path.join(dir, rel);
      const [sha256, stat] = await Promise.all([sha256OfFile(full), fs.stat(full)]);
      return { path: rel, sha256, bytes: stat.size };
    }),
  );
}

/** `sha256sum` format, so `sha256sum -c SHA256SUMS` works inside the bundle too. */
export function formatChecksums(digests: readonly FileDigest[]): string {
  return digests.map((d) => `${d.sha256}  ${d.path}\n`).join('');
}

export function parseChecksums(text: string): Map<string, string> {
  const entries = new Map<string, string>();
  for (const line of text.split('\n')) {
    const match = /^([0-9a-f]{64}) [ *](.+)$/.exec(line);
    if (match?.[1] && match[2]) entries.set(match[2], match[1]);
  }
  return entries;
}
