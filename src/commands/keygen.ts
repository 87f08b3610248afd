import path from 'node:path';
import fs from 'fs-extra';
import { generateKeyPair, KEY_TYPES, type KeyType } from '../attest/keys.js';
import { RehearseError } from '../errors.js';
import type { CommandResult } from '../reporters/events.js';

export interface KeygenOptions {
  cwd: string;
  out: string;
  type?: string;
}

export const PRIVATE_KEY_FILE = 'rehearse-signing.key.pem';
export const PUBLIC_KEY_FILE = 'rehearse-signing.pub.pem';

function keyTypeOf(type: string | undefined): KeyType {
  const chosen = type ?? 'ed25519';
  if ((KEY_TYPES as readonly string[]).includes(chosen)) return chosen as KeyType;
  throw new RehearseError('USAGE', `--type expects ${KEY_TYPES.join(' or ')}, got '${chosen}'`, {
    hint: 'e.g. rehearse keygen --out ~/.config/rehearse --type ed25519',
  });
}

/** Exclusive create: an existing key is never replaced, so a key already in use cannot be lost. */
async function writeNew(file: string, content: string, mode: number): Promise<void> {
  try {
    await fs.writeFile(file, content, { mode, flag: 'wx' });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new RehearseError(
      code === 'EEXIST' ? 'USAGE' : 'EVIDENCE_ROOT_UNWRITABLE',
      `cannot write ${file} (${code ?? 'unwritable'})`,
      {
        hint:
          code === 'EEXIST'
            ? 'an existing key is never replaced: choose another --out'
            : 'fix permissions or free space',
      },
    );
  }
}

/** `rehearse keygen --out DIR`: a key pair for signing attestations; the private key is written (0600), never shown. */
export async function keygen(options: KeygenOptions): Promise<CommandResult> {
  const type = keyTypeOf(options.type);
  const dir = path.resolve(options.cwd, options.out);
  await fs.ensureDir(dir);
  const privateFile = path.join(dir, PRIVATE_KEY_FILE);
  const publicFile = path.join(dir, PUBLIC_KEY_FILE);
  for (const file of [privateFile, publicFile]) {
    if (await fs.pathExists(file))
      throw new RehearseError('USAGE', `${file} already exists`, {
        hint: 'an existing key is never replaced: choose another --out',
      });
  }
  const pair = generateKeyPair(type);
  await writeNew(privateFile, pair.privatePem, 0o600);
  // The mode given to open() is masked by umask; 0600 must hold whatever the umask is.
  await fs.chmod(privateFile, 0o600);
  await writeNew(publicFile, pair.publicPem, 0o644);
  return {
    command: 'keygen',
    exitCode: 0,
    verdict: 'pass',
    data: { type, keyid: pair.keyid, privateKey: privateFile, publicKey: publicFile },
    lines: [
      `${type} key ${pair.keyid}`,
      `private key: ${privateFile} (mode 0600: keep it in your secret store, never in the repository or a bundle)`,
      `public key:  ${publicFile} (give it to reviewers: rehearse verify BUNDLE --key ${PUBLIC_KEY_FILE})`,
    ],
  };
}
