import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import fs from 'fs-extra';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ATTESTATION_FILE, attestBundle } from '../../../src/attest/attestation.js';
import { generateKeyPair, loadSigningKey } from '../../../src/attest/keys.js';
import { readSummary } from '../../../src/bundle/bundle.js';

const repo = path.resolve(import.meta.dirname, '..', '..', '..');
/** A real, complete, passing bundle made by `rehearse backfill --sandbox --burst 3` (limit 2, peak 2). */
const FIXTURE = path.join(repo, 'fixtures/bundles/complete');
const SERVICES = path.join(repo, 'test/services');
const NAME = '20261126T013217Z';

let work: string;
let bundle: string;
beforeEach(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'rehearse-sslib-'));
  bundle = path.join(work, 'evidence', NAME);
  await fs.copy(FIXTURE, bundle);
});
afterEach(async () => {
  await rm(work, { recursive: true, force: true });
});

/** securesystemslib (PyPI), through the locked test/services environment: a verifier rehearse did not write. */
async function verifyWithSecuresystemslib(
  publicKey: string,
): Promise<{ exitCode: number; result: Record<string, unknown> }> {
  const run = await execa(
    'uv',
    [
      'run',
      '--locked',
      '--project',
      SERVICES,
      'python',
      path.join(SERVICES, 'verify_attestation.py'),
      bundle,
      publicKey,
    ],
    { reject: false, env: { ...process.env, UV_PYTHON_DOWNLOADS: 'never' }, timeout: 110_000 },
  );
  const last = run.stdout.trim().split('\n').at(-1) ?? '';
  if (!last.startsWith('{')) throw new Error(`the verifier printed no result: ${run.stderr.slice(-2000)}`);
  return { exitCode: run.exitCode ?? -1, result: JSON.parse(last) as Record<string, unknown> };
}

/** The key pair as the README's openssl commands make it, or as `rehearse keygen` does. */
async function makeKeys(
  how: 'openssl-ecdsa-p256' | 'keygen-ed25519',
): Promise<{ privateKey: string; publicKey: string }> {
  const privateKey = path.join(work, 'signing.key.pem');
  const publicKey = path.join(work, 'signing.pub.pem');
  if (how === 'openssl-ecdsa-p256') {
    await execa('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', privateKey]);
    await execa('openssl', ['pkey', '-in', privateKey, '-pubout', '-out', publicKey]);
  } else {
    const pair = generateKeyPair('ed25519');
    await writeFile(privateKey, pair.privatePem, { mode: 0o600 });
    await writeFile(publicKey, pair.publicPem);
  }
  return { privateKey, publicKey };
}

describe('a signed bundle, checked by securesystemslib', () => {
  it.each(['openssl-ecdsa-p256', 'keygen-ed25519'] as const)(
    'verifies the DSSE signature and every subject (%s); one changed byte fails it',
    async (how) => {
      const { privateKey, publicKey } = await makeKeys(how);
      const key = await loadSigningKey(privateKey);
      const summary = await readSummary(bundle);
      if (!summary) throw new Error('the fixture has no summary');
      await attestBundle({ dir: bundle, name: NAME, redact: (t) => t }, summary, new Date(), key);

      const good = await verifyWithSecuresystemslib(publicKey);
      expect(good).toEqual({
        exitCode: 0,
        result: {
          ok: true,
          keyid: key.keyid,
          scheme: how === 'keygen-ed25519' ? 'ed25519' : 'ecdsa-sha2-nistp256',
          subjects: 11,
          predicateType: 'https://in-toto.io/attestation/test-result/v0.1',
          result: 'PASSED',
        },
      });

      const evidence = path.join(bundle, 'state-history.json');
      const original = await readFile(evidence);
      const changed = Buffer.from(original);
      changed.writeUInt8(changed.readUInt8(20) ^ 1, 20);
      await writeFile(evidence, changed);
      expect(await verifyWithSecuresystemslib(publicKey)).toEqual({
        exitCode: 1,
        result: { ok: false, reason: 'subject state-history.json: sha256 differs' },
      });
      await writeFile(evidence, original);

      const envelope = JSON.parse(await readFile(path.join(bundle, ATTESTATION_FILE), 'utf8'));
      const payload = Buffer.from(envelope.payload, 'base64');
      payload[payload.indexOf('PASSED')] = 'Q'.charCodeAt(0);
      envelope.payload = payload.toString('base64');
      await writeFile(path.join(bundle, ATTESTATION_FILE), `${JSON.stringify(envelope)}\n`);
      const forged = await verifyWithSecuresystemslib(publicKey);
      expect(forged.exitCode).toBe(1);
      expect(forged.result.reason).toMatch(/^signature: /);
    },
  );
});
