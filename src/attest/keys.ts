import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  sign,
  verify,
} from 'node:crypto';
import fs from 'fs-extra';
import { RehearseError } from '../errors.js';

export const KEY_TYPES = ['ed25519', 'ecdsa-p256'] as const;
export type KeyType = (typeof KEY_TYPES)[number];

/** The operator's private key, held only as a KeyObject: its bytes are never kept, printed or written. */
export interface SigningKey {
  keyid: string;
  type: KeyType;
  sign(data: Buffer): Buffer;
}

export interface VerifyingKey {
  keyid: string;
  type: KeyType;
  verify(data: Buffer, signature: Buffer): boolean;
}

const KEY_HINT =
  'give an unencrypted Ed25519 or ECDSA P-256 key in PEM (rehearse keygen --out DIR makes a pair; README.md shows the openssl commands)';

function typeOf(key: KeyObject): KeyType | undefined {
  if (key.asymmetricKeyType === 'ed25519') return 'ed25519';
  if (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1') return 'ecdsa-p256';
  return undefined;
}

/** securesystemslib's canonical JSON escapes only backslash and quote. */
const canonicalString = (text: string): string => `"${text.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`;

/**
 * The key id securesystemslib (and so in-toto's Python tooling) computes by default: the sha256 of the
 * canonical JSON of {keytype, keyval: {public}, scheme}, so its verifiers find our signature by key id.
 */
export function keyIdOf(publicKey: KeyObject): string {
  const type = typeOf(publicKey);
  if (!type) throw new RehearseError('USAGE', 'the key is neither Ed25519 nor ECDSA P-256', { hint: KEY_HINT });
  const [keytype, scheme, value] =
    type === 'ed25519'
      ? ['ed25519', 'ed25519', Buffer.from(publicKey.export({ format: 'jwk' }).x ?? '', 'base64url').toString('hex')]
      : ['ecdsa', 'ecdsa-sha2-nistp256', publicKey.export({ type: 'spki', format: 'pem' }).toString()];
  const canonical = `{"keytype":${canonicalString(keytype)},"keyval":{"public":${canonicalString(value)}},"scheme":${canonicalString(scheme)}}`;
  return createHash('sha256').update(canonical).digest('hex');
}

// Ed25519 signs the message itself; ECDSA signs its SHA-256, DER-encoded as DSSE verifiers expect.
const digestFor = (type: KeyType): string | null => (type === 'ed25519' ? null : 'sha256');

async function readKeyFile(file: string, what: string): Promise<Buffer> {
  try {
    return await fs.readFile(file);
  } catch (error) {
    throw new RehearseError(
      'USAGE',
      `cannot read the ${what} at ${file} (${(error as NodeJS.ErrnoException).code ?? 'unreadable'})`,
      { hint: KEY_HINT },
    );
  }
}

/** Never the parser's message: some quote the input, and the input is a private key. */
function unusableKey(file: string, what: string, error: unknown): RehearseError {
  const code = (error as { code?: unknown }).code;
  return new RehearseError(
    'USAGE',
    `${file} holds no usable ${what}${typeof code === 'string' ? ` (${code})` : ''}; an encrypted key is not supported`,
    { hint: KEY_HINT },
  );
}

/**
 * The key in a PEM file, parsed by `parse`, and its type. The file's bytes are zeroed once parsed
 * (it may be a private key), and no error quotes them.
 */
async function loadKey(
  file: string,
  what: { file: string; key: string },
  parse: (pem: Buffer) => KeyObject,
): Promise<{ key: KeyObject; type: KeyType }> {
  const pem = await readKeyFile(file, what.file);
  let key: KeyObject;
  try {
    key = parse(pem);
  } catch (error) {
    throw unusableKey(file, what.key, error);
  } finally {
    pem.fill(0);
  }
  const type = typeOf(key);
  if (!type)
    throw new RehearseError('USAGE', `${file} is neither an Ed25519 nor an ECDSA P-256 key`, { hint: KEY_HINT });
  return { key, type };
}

export async function loadSigningKey(file: string): Promise<SigningKey> {
  const { key, type } = await loadKey(file, { file: 'signing key', key: 'private key' }, (pem) =>
    createPrivateKey({ key: pem, format: 'pem' }),
  );
  return { keyid: keyIdOf(createPublicKey(key)), type, sign: (data) => sign(digestFor(type), data, key) };
}

/** A public key in PEM; a private key is accepted too (its public half is used), as openssl and ssh do. */
export async function loadVerifyingKey(file: string): Promise<VerifyingKey> {
  const { key, type } = await loadKey(file, { file: 'public key', key: 'public key' }, (pem) =>
    createPublicKey({ key: pem, format: 'pem' }),
  );
  return {
    keyid: keyIdOf(key),
    type,
    verify: (data, signature) => {
      try {
        return verify(digestFor(type), data, key, signature);
      } catch {
        return false;
      }
    },
  };
}

export interface KeyPairPem {
  privatePem: string;
  publicPem: string;
  keyid: string;
}

export function generateKeyPair(type: KeyType): KeyPairPem {
  const publicKeyEncoding = { type: 'spki', format: 'pem' } as const;
  const privateKeyEncoding = { type: 'pkcs8', format: 'pem' } as const;
  const pair =
    type === 'ed25519'
      ? generateKeyPairSync('ed25519', { publicKeyEncoding, privateKeyEncoding })
      : generateKeyPairSync('ec', { namedCurve: 'P-256', publicKeyEncoding, privateKeyEncoding });
  return { privatePem: pair.privateKey, publicPem: pair.publicKey, keyid: keyIdOf(createPublicKey(pair.publicKey)) };
}
