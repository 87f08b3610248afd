import path from 'node:path';
import { ATTESTATION_FILE, attestBundle, describeAttestation } from '../attest/attestation.js';
import { resolveSigningKey } from '../attest/signing.js';
import { claimBundle } from '../bundle/abandon.js';
import { findOpenBundle, loadSummary, openBundle } from '../bundle/bundle.js';
import { loadConfig } from '../config/load.js';
import { RehearseError } from '../errors.js';
import { writeReport } from '../report/write.js';
import type { CommandResult } from '../reporters/events.js';
import { collectSecrets, createRedactor } from '../secrets/redact.js';

export interface AttestOptions {
  cwd: string;
  env: NodeJS.ProcessEnv;
  /** The bundle; default the newest under the evidence root, sealed or not. */
  dir?: string;
  configFile?: string;
  evidenceRoot?: string;
  /** --signing-key FILE, else REHEARSE_SIGNING_KEY_FILE; none writes the statement unsigned. */
  signingKey?: string;
}

async function chooseDir(options: AttestOptions, root: string): Promise<string> {
  if (options.dir) return path.resolve(options.cwd, options.dir);
  const newest = await findOpenBundle(root, { includeSealed: true });
  if (!newest)
    throw new RehearseError('BUNDLE_INVALID', `no bundle under ${root}`, {
      hint: 'pass the bundle directory: rehearse attest dist/staging/backfill/<timestamp>',
    });
  return newest;
}

/** `rehearse attest [BUNDLE]`: (re)write the bundle's in-toto statement, signed with the operator's key if given. */
export async function attest(options: AttestOptions): Promise<CommandResult> {
  const { config } = await loadConfig({
    cwd: options.cwd,
    ...(options.configFile ? { file: options.configFile } : {}),
    overrides: { evidenceRoot: options.evidenceRoot },
  });
  const root = path.resolve(options.cwd, config.evidenceRoot);
  const dir = await chooseDir(options, root);
  const key = await resolveSigningKey({
    ...(options.signingKey ? { flag: options.signingKey } : {}),
    env: options.env,
    cwd: options.cwd,
    evidenceDirs: [root, dir],
  });
  const bundle = await openBundle(dir, createRedactor(collectSecrets(options.env)), {
    allowSealed: true,
    allowAbandoned: true,
  });
  const lock = await claimBundle(bundle.dir, 'attest', new Date());
  try {
    const loaded = await loadSummary(bundle.dir);
    if (!('summary' in loaded)) {
      throw new RehearseError('BUNDLE_INVALID', `${dir} has no valid summary.json`, { details: [loaded.problem] });
    }
    const { summary } = loaded;
    // The report shows the attestation section of notes.md, so it is drawn again before the statement covers it.
    const attested = await attestBundle(bundle, summary, new Date(), key, async () => {
      await writeReport(bundle.dir);
    });
    const rel = path.relative(options.cwd, bundle.dir) || bundle.dir;
    return {
      command: 'attest',
      exitCode: 0,
      verdict: attested.verdict,
      bundle: rel,
      data: { file: ATTESTATION_FILE, ...attested.attestation },
      lines: [
        describeAttestation(attested),
        `the statement covers every file of ${rel}; its result follows the verdict: ${attested.verdict}`,
        ...(key ? [`check it with: rehearse verify ${rel} --key PUBLIC.pem`] : []),
      ],
    };
  } finally {
    await lock.release();
  }
}
