import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Bundle, createBundle, writeChecksumManifest, writeEvidence } from '../../../src/bundle/bundle.js';
import {
  CHECKSUM_FILE,
  digestBundle,
  formatChecksums,
  listBundleFiles,
  parseChecksums,
} from '../../../src/bundle/checksums.js';

const NOW = new Date('2026-11-26T01:20:00Z');
const FILES: Record<string, string | Buffer> = {
  'summary.json': '{"schema": "rehearse.summary/v1"}\n',
  'deployment.json': '{"name": "hotpass-backfill"}\n',
  'logs/hotpass e2e staging.log': 'a line\nanother line\n',
  'screenshots/run.png': Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 1, 2, 255]),
};

const sha256 = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');
const sha256sumCheck = (dir: string) => spawnSync('sha256sum', ['-c', CHECKSUM_FILE], { cwd: dir, encoding: 'utf8' });

let root: string;
let bundle: Bundle;
beforeEach(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'rehearse-sums-'));
  bundle = await createBundle(root, NOW, (text) => text);
  for (const [rel, content] of Object.entries(FILES)) await writeEvidence(bundle, rel, content, NOW);
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('digestBundle', () => {
  it('digests every file, sorted, leaving out the manifest itself and half-written temp files', async () => {
    await writeFile(path.join(bundle.dir, CHECKSUM_FILE), 'stale\n');
    await writeFile(path.join(bundle.dir, 'logs', '.run.log.1a2b3c4d.tmp'), 'partial');
    expect(await listBundleFiles(bundle.dir)).toEqual(Object.keys(FILES).sort());
    const digests = await digestBundle(bundle.dir);
    expect(digests.map((d) => [d.path, d.sha256, d.bytes])).toEqual(
      Object.keys(FILES)
        .sort()
        .map((rel) => [rel, sha256(FILES[rel]!), Buffer.byteLength(FILES[rel]!)]),
    );
  });
});

describe('SHA256SUMS', () => {
  it('is accepted by the real `sha256sum -c` inside the bundle', async () => {
    await writeChecksumManifest(bundle);
    const check = sha256sumCheck(bundle.dir);
    expect(check.stderr).toBe('');
    expect(check.status).toBe(0);
    expect(check.stdout.trim().split('\n').sort()).toEqual(
      Object.keys(FILES)
        .sort()
        .map((rel) => `${rel}: OK`),
    );
  });

  it('makes `sha256sum -c` fail once a file is changed after sealing', async () => {
    await writeChecksumManifest(bundle);
    await writeFile(path.join(bundle.dir, 'deployment.json'), '{"name": "tampered"}\n');
    const check = sha256sumCheck(bundle.dir);
    expect(check.status).not.toBe(0);
    expect(check.stdout).toContain('deployment.json: FAILED');
  });

  it('parses back to the digests it was formatted from', async () => {
    const digests = await digestBundle(bundle.dir);
    const parsed = parseChecksums(formatChecksums(digests));
    expect(parsed).toEqual(new Map(digests.map((d) => [d.path, d.sha256])));
  });

  it("parses the real sha256sum's own output, text and binary mode", async () => {
    const rels = Object.keys(FILES).sort();
    const text = spawnSync('sha256sum', rels, { cwd: bundle.dir, encoding: 'utf8' }).stdout;
    const binary = spawnSync('sha256sum', ['-b', ...rels], { cwd: bundle.dir, encoding: 'utf8' }).stdout;
    const expected = new Map(rels.map((rel) => [rel, sha256(FILES[rel]!)]));
    expect(parseChecksums(text)).toEqual(expected);
    expect(parseChecksums(binary)).toEqual(expected);
  });

  it('ignores lines that are not checksum entries', () => {
    const line = `${'a'.repeat(64)}  summary.json`;
    expect(parseChecksums(`# comment\n\n${'a'.repeat(63)}  short.txt\n${line}\n`)).toEqual(
      new Map([['summary.json', 'a'.repeat(64)]]),
    );
  });

  it('is rewritten whole, so it lists a file added later', async () => {
    await writeChecksumManifest(bundle);
    await writeEvidence(bundle, 'notes.md', '# notes\n', NOW);
    await writeChecksumManifest(bundle);
    const entries = parseChecksums(await readFile(path.join(bundle.dir, CHECKSUM_FILE), 'utf8'));
    expect(entries.get('notes.md')).toBe(sha256('# notes\n'));
    expect(sha256sumCheck(bundle.dir).status).toBe(0);
  });
});
