import { createPublicKey } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  checkEnvelope,
  decodeBase64,
  IN_TOTO_PAYLOAD_TYPE,
  preAuthEncoding,
  sealEnvelope,
} from '../../../src/attest/dsse.js';
import { generateKeyPair, KEY_TYPES, keyIdOf, loadSigningKey, loadVerifyingKey } from '../../../src/attest/keys.js';
import { isRehearseError } from '../../../src/errors.js';

const repo = path.resolve(import.meta.dirname, '..', '..', '..');

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'rehearse-dsse-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function writePair(type: (typeof KEY_TYPES)[number], name: string = type) {
  const pair = generateKeyPair(type);
  const privateFile = path.join(dir, `${name}.key.pem`);
  const publicFile = path.join(dir, `${name}.pub.pem`);
  await writeFile(privateFile, pair.privatePem);
  await writeFile(publicFile, pair.publicPem);
  return { ...pair, privateFile, publicFile };
}

describe('PAE', () => {
  it("is the DSSE spec's own example byte for byte", () => {
    // github.com/secure-systems-lab/dsse protocol.md, "Test Vectors".
    expect(preAuthEncoding('http://example.com/HelloWorld', Buffer.from('hello world')).toString('latin1')).toBe(
      'DSSEv1 29 http://example.com/HelloWorld 11 hello world',
    );
  });

  it('counts bytes, not characters, and keeps the payload as it is', () => {
    const payload = Buffer.from('{"é":"\u2713"}\n', 'utf8');
    const pae = preAuthEncoding('application/vnd.in-toto+json', payload);
    expect(pae.subarray(0, 39).toString('ascii')).toBe('DSSEv1 28 application/vnd.in-toto+json ');
    expect(payload.length).toBe(13);
    expect(pae.subarray(39, 42).toString('ascii')).toBe('13 ');
    expect(pae.subarray(42).equals(payload)).toBe(true);
  });
});

describe('sign and verify', () => {
  it.each(KEY_TYPES)('round-trips with %s, and any change to payload or type breaks it', async (type) => {
    const pair = await writePair(type);
    const signer = await loadSigningKey(pair.privateFile);
    const verifier = await loadVerifyingKey(pair.publicFile);
    expect(signer.keyid).toBe(verifier.keyid);
    expect(signer.type).toBe(type);

    const payload = Buffer.from('{"_type":"https://in-toto.io/Statement/v1"}');
    const envelope = sealEnvelope(payload, IN_TOTO_PAYLOAD_TYPE, signer);
    expect(envelope.signatures).toEqual([{ keyid: signer.keyid, sig: expect.any(String) }]);
    expect(checkEnvelope(envelope, verifier)).toEqual({ outcome: 'verified', keyid: verifier.keyid });

    const changed = Buffer.from(payload);
    changed.writeUInt8(changed.readUInt8(changed.length - 2) ^ 1, changed.length - 2);
    expect(checkEnvelope({ ...envelope, payload: changed.toString('base64') }, verifier).outcome).toBe('bad-signature');
    expect(checkEnvelope({ ...envelope, payloadType: 'application/json' }, verifier).outcome).toBe('bad-signature');
    expect(checkEnvelope(sealEnvelope(payload, IN_TOTO_PAYLOAD_TYPE), verifier)).toEqual({ outcome: 'unsigned' });
  });

  it("tells another signer's key from a bad signature", async () => {
    const mine = await writePair('ed25519', 'mine');
    const theirs = await writePair('ecdsa-p256', 'theirs');
    const envelope = sealEnvelope(Buffer.from('x'), IN_TOTO_PAYLOAD_TYPE, await loadSigningKey(theirs.privateFile));
    expect(checkEnvelope(envelope, await loadVerifyingKey(mine.publicFile))).toEqual({
      outcome: 'other-key',
      keyids: [theirs.keyid],
    });
  });

  it('verifies with the public half of a private key file, as openssl does', async () => {
    const pair = await writePair('ecdsa-p256');
    const envelope = sealEnvelope(Buffer.from('x'), IN_TOTO_PAYLOAD_TYPE, await loadSigningKey(pair.privateFile));
    expect(checkEnvelope(envelope, await loadVerifyingKey(pair.privateFile)).outcome).toBe('verified');
  });

  it('rejects base64 that only decodes loosely', () => {
    expect(decodeBase64('aGVsbG8=')?.toString()).toBe('hello');
    expect(decodeBase64('aGVsbG8')).toBeUndefined();
    expect(decodeBase64('aGVs bG8=')).toBeUndefined();
  });
});

describe('keys', () => {
  it('computes the key ids securesystemslib 1.6.0 computes by default (SSlibKey.from_crypto)', async () => {
    const id = async (file: string) => keyIdOf(createPublicKey(await readFile(path.join(repo, 'fixtures/keys', file))));
    expect(await id('ed25519.pub.pem')).toBe('b503b92ac832fbaa416549f0b1f3ad478d56ecfeb28295e3f003a52a3adc6aed');
    expect(await id('ecdsa-p256.pub.pem')).toBe('f27b7473df9c956dcde63a61e995e643f21a7a79ada2c45c19c3d7df5bf5a61f');
  });

  it('refuses other key types, public keys as signing keys, and unreadable files, never quoting the file', async () => {
    const rsa = path.join(dir, 'rsa.pem');
    const { generateKeyPairSync } = await import('node:crypto');
    const pem = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' });
    await writeFile(rsa, pem);
    const pair = await writePair('ed25519');
    const garbage = path.join(dir, 'garbage.pem');
    await writeFile(
      garbage,
      `-----BEGIN PRIVATE KEY-----\n${pair.privatePem.split('\n')[1]?.slice(0, 24)}\n-----END PRIVATE KEY-----\n`,
    );
    for (const [file, said] of [
      [rsa, 'neither an Ed25519 nor an ECDSA P-256 key'],
      [pair.publicFile, 'no usable private key'],
      [garbage, 'no usable private key'],
      [path.join(dir, 'absent.pem'), 'cannot read the signing key'],
    ] as const) {
      const error = await loadSigningKey(file).catch((e: unknown) => e);
      expect(isRehearseError(error) && error.exitCode).toBe(2);
      expect((error as Error).message).toContain(said);
      expect((error as Error).message).not.toContain(pair.privatePem.split('\n')[1]);
    }
  });
});
