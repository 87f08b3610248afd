import { createPrivateKey } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fs from 'fs-extra';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ATTESTATION_FILE, SIGNING_KEY_ENV } from '../../../src/attest/attestation.js';
import { readSummary } from '../../../src/bundle/bundle.js';
import { listBundleFiles } from '../../../src/bundle/checksums.js';
import { main } from '../../../src/cli.js';
import { PRIVATE_KEY_FILE, PUBLIC_KEY_FILE } from '../../../src/commands/keygen.js';

const repo = path.resolve(import.meta.dirname, '..', '..', '..');
/** A real, complete, passing bundle made by `rehearse backfill --sandbox --burst 3` (limit 2, peak 2). */
const FIXTURE = path.join(repo, 'fixtures/bundles/complete');
const NAME = '20261126T013217Z';

let work: string;
let bundle: string;
let output: string[];
beforeEach(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'rehearse-attest-cli-'));
  bundle = path.join(work, 'dist/staging/backfill', NAME);
  await fs.copy(FIXTURE, bundle);
  await mkdir(path.join(work, 'docs/operations'), { recursive: true });
  await writeFile(path.join(work, 'docs/operations/staging-rehearsal-plan.md'), '# Staging rehearsal plan\n');
  await writeFile(path.join(work, 'Next_Steps_Log.md'), '# Next steps log\n');
  output = [];
  // As a stream does: the callback runs once the chunk is taken (the JSON reporter waits for it).
  const capture = (chunk: unknown, ...rest: unknown[]): boolean => {
    output.push(String(chunk));
    const callback = rest.find((arg): arg is () => void => typeof arg === 'function');
    callback?.();
    return true;
  };
  vi.spyOn(process.stdout, 'write').mockImplementation(capture);
  vi.spyOn(process.stderr, 'write').mockImplementation(capture);
});
afterEach(async () => {
  vi.restoreAllMocks();
  await rm(work, { recursive: true, force: true });
});

const rehearse = (args: string[], env: NodeJS.ProcessEnv = {}) =>
  main(['node', 'rehearse', ...args, '--ci'], { env, cwd: work });

/** Every form the private key's bytes could take in a file or an output: its PEM lines, the raw key, in hex and base64. */
async function privateKeyForms(file: string): Promise<string[]> {
  const pem = await readFile(file, 'utf8');
  const lines = pem.split('\n').filter((line) => line && !line.startsWith('-----'));
  const raw = Buffer.from(createPrivateKey(pem).export({ format: 'jwk' }).d ?? '', 'base64url');
  expect(raw.length).toBeGreaterThanOrEqual(32);
  return [...lines, raw.toString('hex'), raw.toString('base64'), raw.toString('base64url'), raw.toString('latin1')];
}

async function everyFileUnder(dir: string): Promise<string[]> {
  return (await listBundleFiles(dir)).map((rel) => path.join(dir, rel));
}

describe('rehearse keygen, upload --signing-key, attest and verify --key, through the command line', () => {
  it('signs the settled bundle and its far copy, which verify --key accepts; the private key is in no file or output', async () => {
    const keys = await mkdtemp(path.join(tmpdir(), 'rehearse-attest-keys-'));
    try {
      expect(await rehearse(['keygen', '--out', keys, '--type', 'ecdsa-p256'])).toBe(0);
      const privateKey = path.join(keys, PRIVATE_KEY_FILE);
      const publicKey = path.join(keys, PUBLIC_KEY_FILE);
      expect((await stat(privateKey)).mode & 0o777).toBe(0o600);
      expect(await rehearse(['keygen', '--out', keys])).toBe(2);

      // Filing the bundle records the upload in summary.json: the attestation is made after that, then sent too.
      expect(
        await rehearse(['upload', '--bundle', bundle, '--to', 'shared', '--json'], { [SIGNING_KEY_ENV]: privateKey }),
      ).toBe(0);
      const far = path.join(work, 'shared', NAME);
      expect(await fs.pathExists(path.join(far, ATTESTATION_FILE))).toBe(true);
      expect((await readSummary(bundle))?.attestation).toMatchObject({ signed: true, keyType: 'ecdsa-p256' });
      for (const dir of [bundle, far]) expect(await rehearse(['verify', dir, '--key', publicKey])).toBe(0);
      expect(output.join('')).toContain('the signature verifies with the given key');

      const forms = await privateKeyForms(privateKey);
      const files = [
        ...(await everyFileUnder(bundle)),
        ...(await everyFileUnder(far)),
        path.join(work, 'Next_Steps_Log.md'),
        path.join(work, 'docs/operations/staging-rehearsal-plan.md'),
      ];
      expect(files.length).toBeGreaterThan(20);
      for (const file of files) {
        const text = (await readFile(file)).toString('latin1');
        for (const form of forms) expect(text.includes(form), `${file} holds the private key`).toBe(false);
      }
      const printed = output.join('');
      for (const form of forms) expect(printed.includes(form)).toBe(false);

      // Re-attested without a key, the statement is unsigned: verify --key fails, plain verify says so.
      expect(await rehearse(['attest', bundle])).toBe(0);
      expect((await readSummary(bundle))?.attestation).toEqual({ file: ATTESTATION_FILE, signed: false });
      output.length = 0;
      expect(await rehearse(['verify', bundle, '--key', publicKey])).toBe(1);
      expect(output.join('')).toContain('the statement is not signed');
      expect(await rehearse(['verify', bundle])).toBe(0);
      expect(await rehearse(['attest', bundle, '--signing-key', privateKey])).toBe(0);
      expect(await rehearse(['verify', bundle, '--key', publicKey])).toBe(0);
    } finally {
      await rm(keys, { recursive: true, force: true });
    }
  });

  it('refuses a signing key kept inside the evidence, and an unusable one, before touching the bundle', async () => {
    const inside = path.join(work, 'dist/staging/backfill/key.pem');
    await writeFile(inside, 'not a key\n');
    const before = await readFile(path.join(bundle, 'summary.json'), 'utf8');
    expect(await rehearse(['attest', bundle, '--signing-key', inside])).toBe(2);
    expect(output.join('')).toContain('is inside the evidence');
    const outside = path.join(work, 'bad.pem');
    await writeFile(outside, 'not a key\n');
    expect(await rehearse(['upload', '--bundle', bundle, '--to', 'shared', '--signing-key', outside])).toBe(2);
    expect(output.join('')).toContain('holds no usable private key');
    expect(await readFile(path.join(bundle, 'summary.json'), 'utf8')).toBe(before);
    expect(await fs.pathExists(path.join(work, 'shared'))).toBe(false);
  });
});
