import path from 'node:path';
import { ExitCode } from '../errors.js';
import { readSummary } from '../evidence/bundle.js';
import { CHECKSUM_FILE } from '../evidence/checksums.js';
import { verifyBundle, type VerifyProblem } from '../evidence/verify.js';
import type { CommandResult } from '../report/events.js';

export interface VerifyOptions {
  dir: string;
  /** What a relative dir is relative to (default: the process's working directory). */
  cwd?: string;
}

const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;
const describeProblem = (problem: VerifyProblem): string => `${problem.kind}: ${problem.path ? `${problem.path}: ` : ''}${problem.detail}`;

/** `rehearse verify DIR`: re-check a bundle offline; any difference exits 1, one line each. */
export async function verify(options: VerifyOptions): Promise<CommandResult> {
  const dir = path.resolve(options.cwd ?? process.cwd(), options.dir);
  const report = await verifyBundle(dir);
  // A consistent bundle reports its own verdict: verifying an interrupted one never says pass.
  const summary = await readSummary(dir);
  const verdict = summary?.verdict ?? 'incomplete';
  return {
    command: 'verify',
    exitCode: report.ok ? ExitCode.ok : ExitCode.guardrailFailed,
    verdict: report.ok ? verdict : 'fail',
    bundle: options.dir,
    data: { ...report, bundleStatus: summary?.status ?? null, bundleVerdict: verdict },
    lines: report.ok
      ? [`verified: ${plural(report.files, 'file')} match ${CHECKSUM_FILE}, and the verdicts follow from the evidence`, `the bundle is ${summary?.status ?? 'unknown'}; its verdict: ${verdict}`]
      : report.problems.map(describeProblem),
  };
}
