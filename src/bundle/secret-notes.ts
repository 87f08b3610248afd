import path from 'node:path';
import fs from 'fs-extra';
import { MASK } from '../secrets/redact.js';
import type { Bundle } from './bundle.js';
import { updateNotes } from './notes.js';

const MAX_LISTED = 40;

function collectMasked(value: unknown, at: string, out: string[]): void {
  if (typeof value === 'string') {
    if (value.includes(MASK)) out.push(at || '(the whole document)');
  } else if (Array.isArray(value)) {
    value.forEach((item, i) => collectMasked(item, `${at}[${i}]`, out));
  } else if (value && typeof value === 'object') {
    for (const [key, inner] of Object.entries(value)) collectMasked(inner, at ? `${at}.${key}` : key, out);
  }
}

/** `file: json.path` of every masked value in the bundle's JSON files, as they are on disk now. */
export async function listMaskedPaths(dir: string): Promise<string[]> {
  const names = (await fs.readdir(dir)).filter((name) => name.endsWith('.json')).sort();
  const found: string[] = [];
  for (const name of names) {
    const text = await fs.readFile(path.join(dir, name), 'utf8').catch(() => '');
    if (!text.includes(MASK)) continue;
    const paths: string[] = [];
    try {
      collectMasked(JSON.parse(text), '', paths);
    } catch {
      paths.push('(not JSON)');
    }
    found.push(...paths.map((p) => `${name}: ${p}`));
  }
  return found;
}

function maskedNotesMarkdown(paths: readonly string[]): string {
  const listed = paths.slice(0, MAX_LISTED).map((p) => `- \`${p}\``);
  if (paths.length > MAX_LISTED) listed.push(`- and ${paths.length - MAX_LISTED} more`);
  return [
    `Values under secret-named keys (key, token, secret, password, credential, auth, ...) and known secret values`,
    `(from the environment, parameters and the server's answers) are written as \`${MASK}\`, here as on the terminal,`,
    'in --json and in JUnit. Masked JSON values in this bundle:',
    '',
    ...listed,
  ].join('\n');
}

/** A notes.md section naming the masked JSON paths, when there are any. Returns the file written. */
export async function noteMaskedPaths(bundle: Bundle, now: Date): Promise<string | undefined> {
  const paths = await listMaskedPaths(bundle.dir);
  if (paths.length === 0) return undefined;
  return updateNotes(bundle, 'secrets', 'Masked secrets', maskedNotesMarkdown(paths), now);
}
