import path from 'node:path';
import { ExitCode } from '../errors.js';
import { CHECKSUM_FILE } from '../evidence/checksums.js';
import { type VerifyProblem, type VerifyReport, verifyBundle } from '../evidence/verify.js';
import type { CommandResult } from '../report/events.js';

export interface VerifyOptions {
  dir: string;
  /** What a relative dir is relative to (default: the process's working directory). */
  cwd?: string;
}

const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;
const describeProblem = (problem: VerifyProblem): string =>
  `${problem.kind}: ${problem.path ? `${problem.path}: ` : ''}${problem.detail}`;

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
  const report = await verifyBundle(dir);
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
        ]
      : report.problems.map(describeProblem),
  };
}
