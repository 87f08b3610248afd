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

export async function loadSigningKey(file: string): Promise<SigningKey> {
  const pem = await readKeyFile(file, 'signing key');
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey({ key: pem, format: 'pem' });
  } catch (error) {
    throw unusableKey(file, 'private key', error);
  } finally {
    pem.fill(0);
  }
  const type = typeOf(privateKey);
  if (!type)
    throw new RehearseError('USAGE', `${file} is neither an Ed25519 nor an ECDSA P-256 key`, { hint: KEY_HINT });
  const keyid = keyIdOf(createPublicKey(privateKey));
  return { keyid, type, sign: (data) => sign(digestFor(type), data, privateKey) };
}

/** A public key in PEM; a private key is accepted too (its public half is used), as openssl and ssh do. */
export async function loadVerifyingKey(file: string): Promise<VerifyingKey> {
  const pem = await readKeyFile(file, 'public key');
  let publicKey: KeyObject;
  try {
    publicKey = createPublicKey({ key: pem, format: 'pem' });
  } catch (error) {
    throw unusableKey(file, 'public key', error);
  }
  const type = typeOf(publicKey);
  if (!type)
    throw new RehearseError('USAGE', `${file} is neither an Ed25519 nor an ECDSA P-256 key`, { hint: KEY_HINT });
  const keyid = keyIdOf(publicKey);
  return {
    keyid,
    type,
    verify: (data, signature) => {
      try {
        return verify(digestFor(type), data, publicKey, signature);
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
