import path from 'node:path';
import { ATTESTATION_FILE } from '../attest/attestation.js';
import { loadVerifyingKey } from '../attest/keys.js';
import { CHECKSUM_FILE } from '../bundle/checksums.js';
import { ExitCode } from '../errors.js';
import type { CommandResult } from '../reporters/events.js';
import { plural } from '../util/plural.js';
import { type VerifyProblem, type VerifyReport, verifyBundle } from '../verify/verify.js';

export interface VerifyOptions {
  dir: string;
  /** What a relative dir is relative to (default: the process's working directory). */
  cwd?: string;
  /** A public key in PEM: the bundle must carry an attestation it signed. */
  key?: string;
}

const describeProblem = (problem: VerifyProblem): string =>
  `${problem.kind}: ${problem.path ? `${problem.path}: ` : ''}${problem.detail}`;

function attestationLine(report: VerifyReport): string {
  const { state, keyids } = report.attestation ?? { state: 'absent', keyids: [] };
  if (state === 'verified')
    return `attestation: signed by ${keyids.join(', ')}; the signature verifies with the given key and every subject matches its file`;
  if (state === 'signed')
    return `attestation: signed by ${keyids.join(', ')}; its subjects match the files (the signature is checked only with --key PUBLIC.pem)`;
  if (state === 'unsigned')
    return `attestation: ${ATTESTATION_FILE} is there but not signed; its subjects match the files`;
  return `attestation: none (no ${ATTESTATION_FILE} in the bundle)`;
}

/**
 * 0 only for an intact bundle of a passed rehearsal; 1 for a tampered or inconsistent bundle, or an intact
 * one of a failed rehearsal; 4 for an intact bundle that proves nothing either way (interrupted,
 * abandoned, incomplete, inconclusive).
 */
export function verifyExitCode(report: VerifyReport): number {
  if (!report.ok) return ExitCode.guardrailFailed;
  if (report.verdict === 'pass' && report.status === 'complete') return ExitCode.ok;
  return report.verdict === 'fail' ? ExitCode.guardrailFailed : ExitCode.inconclusive;
}

/** `rehearse verify DIR`: re-check a bundle offline; any difference exits 1, one line each. */
export async function verify(options: VerifyOptions): Promise<CommandResult> {
  const dir = path.resolve(options.cwd ?? process.cwd(), options.dir);
  const key = options.key ? await loadVerifyingKey(path.resolve(options.cwd ?? process.cwd(), options.key)) : undefined;
  const report = await verifyBundle(dir, key ? { key } : {});
  // A consistent bundle reports its own verdict: verifying an interrupted one never says pass.
  const verdict = report.verdict ?? 'incomplete';
  const status = report.status ?? 'unknown';
  return {
    command: 'verify',
    exitCode: verifyExitCode(report),
    verdict: report.ok ? verdict : 'fail',
    bundle: options.dir,
    data: { ...report, bundleStatus: report.status ?? null, bundleVerdict: verdict },
    lines: report.ok
      ? [
          `verified: ${plural(report.files, 'file')} match ${CHECKSUM_FILE}, and the verdicts follow from the evidence`,
          `the bundle is ${status}; its verdict: ${verdict}${verdict === 'pass' ? '' : ' (not a pass)'}`,
          attestationLine(report),
        ]
      : report.problems.map(describeProblem),
  };
}
