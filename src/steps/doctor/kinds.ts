import { ExitCode } from '../../errors.js';
import type { Check } from '../../guardrails/verdict.js';

/**
 * What a failed doctor check means for a rehearsal. A blocker: the rehearsal cannot run, or what it
 * measured would not be the deployment's behaviour (exit 3; preflight stops before anything is
 * triggered). A finding: a broken guardrail, the very thing the rehearsal exists to show (exit 1;
 * preflight records it and the rehearsal goes on to measure it).
 */
export type CheckKind = 'blocker' | 'finding';

/**
 * The one rule doctor's exit code and backfill's preflight follow, by what failed: a check's id, or
 * for the global limit, why it failed (its slots held by other runs block, since the rehearsal's
 * runs would wait; missing, inactive or unnameable, it is the guardrail inspect fails with the evidence).
 */
export const FAILURE_KINDS = {
  'tools.uv': 'blocker',
  'tools.prefect': 'blocker',
  'api.key': 'blocker',
  'api.health': 'blocker',
  'api.auth': 'blocker',
  'deployment.exists': 'blocker',
  'deployment.code': 'blocker',
  'deployment.rehearsals': 'blocker',
  'deployment.idle': 'blocker',
  'work_pool.ready': 'blocker',
  'global_limit.free': 'blocker',
  'global_limit.missing': 'finding',
  'global_limit.inactive': 'finding',
  'global_limit.unnameable': 'finding',
  'evidence_root.writable': 'blocker',
} as const satisfies Record<string, CheckKind>;

/** What failed: a check's id, or for a check that fails in more than one way, which way. */
export type Failure = keyof typeof FAILURE_KINDS;

/**
 * A check of the environment; a failed one carries its kind and what to run (or do) to fix it. `apply` is
 * set only on fixes safe to run unattended (`doctor --fix`): the Prefect CLI arguments of each command, in
 * order, which `fix` prints with the configured Prefect command in front.
 */
export type DoctorCheck = Check & { kind?: CheckKind; fix?: string; apply?: string[][] };

const failedOf = (checks: readonly DoctorCheck[], kind: CheckKind): DoctorCheck[] =>
  checks.filter((c) => c.verdict === 'fail' && c.kind === kind);

const titles = (checks: readonly DoctorCheck[]): string => checks.map((c) => c.title).join('; ');

export const blockersOf = (checks: readonly DoctorCheck[]): DoctorCheck[] => failedOf(checks, 'blocker');
export const findingsOf = (checks: readonly DoctorCheck[]): DoctorCheck[] => failedOf(checks, 'finding');

/** Doctor's exit code, verdict and summary line, from the kinds of its failed checks. */
export function doctorOutcome(checks: readonly DoctorCheck[]): {
  exitCode: number;
  verdict: 'pass' | 'fail' | 'error';
  line: string;
} {
  const blockers = blockersOf(checks);
  const findings = findingsOf(checks);
  const failed = blockers.length + findings.length;
  const count = `doctor: ${failed} of ${checks.length} checks failed`;
  if (blockers.length) {
    const also = findings.length ? ` (and it would show: ${titles(findings)})` : '';
    return {
      exitCode: ExitCode.couldNotRun,
      verdict: 'error',
      line: `${count}; the rehearsal would not run: ${titles(blockers)}${also}`,
    };
  }
  if (findings.length) {
    return {
      exitCode: ExitCode.guardrailFailed,
      verdict: 'fail',
      line: `${count}; the rehearsal would run, and would show: ${titles(findings)}`,
    };
  }
  const warned = checks.filter((c) => c.verdict === 'inconclusive').length;
  return {
    exitCode: ExitCode.ok,
    verdict: 'pass',
    line: `doctor: all ${checks.length} checks passed${warned ? ` (${warned} with a warning)` : ''}`,
  };
}
