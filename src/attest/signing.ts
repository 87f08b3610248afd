import path from 'node:path';
import fs from 'fs-extra';
import { RehearseError } from '../errors.js';
import { SIGNING_KEY_ENV } from './attestation.js';
import { loadSigningKey, type SigningKey } from './keys.js';

export interface SigningKeyRequest {
  /** --signing-key FILE; else the file the environment variable names. */
  flag?: string;
  env: NodeJS.ProcessEnv;
  cwd: string;
  /** Where evidence lives (the evidence root, a --bundle): a key there would be hashed, listed and uploaded. */
  evidenceDirs: string[];
}

const realOrResolved = async (file: string): Promise<string> => fs.realpath(file).catch(() => path.resolve(file));

function isInside(file: string, dir: string): boolean {
  const rel = path.relative(dir, file);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

/**
 * The operator's signing key, loaded (and so checked) before any evidence is written, so a wrong path fails
 * in a second rather than after a rehearsal; undefined when none is given: the statement is then unsigned.
 */
export async function resolveSigningKey(request: SigningKeyRequest): Promise<SigningKey | undefined> {
  const chosen = request.flag ?? request.env[SIGNING_KEY_ENV];
  if (chosen === undefined || chosen.trim() === '') return undefined;
  const file = await realOrResolved(path.resolve(request.cwd, chosen));
  for (const dir of request.evidenceDirs) {
    if (isInside(file, await realOrResolved(path.resolve(request.cwd, dir))))
      throw new RehearseError('USAGE', `the signing key ${chosen} is inside the evidence (${dir})`, {
        hint: 'keep the private key outside the evidence root: everything in a bundle is listed, hashed and uploaded',
      });
  }
  return loadSigningKey(file);
}
