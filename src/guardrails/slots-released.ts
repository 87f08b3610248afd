import type { Check } from './verdict.js';

/** The check's id: a failed one is fixed with `rehearse cleanup`, which gives the held slots back. */
export const SLOTS_RELEASED = 'slots.released';

/** One limit's active slots before the burst and once the runs settled. */
interface SlotRecovery {
  limit: string;
  before: number;
  after: number;
}

export interface RecoveryEvidence {
  limits: SlotRecovery[];
  /** How long validate waited for the slots to come back, and the most it would have. */
  waitedSeconds: number;
  boundSeconds: number;
  /** Runs of the deployment still Pending or Running when it stopped waiting: slots they may hold. */
  liveRuns: string[];
  /** Rehearsal runs not yet final: their slots are not due back. */
  unfinished: number;
  /** When a fault restarted the sandbox's server: the leases it kept in memory went with it. */
  serverRestartedAt?: string;
}

const describe = (rows: readonly SlotRecovery[]): string =>
  rows.map((r) => `${r.limit} ${r.before} -> ${r.after}`).join(', ');

/**
 * slots.released: the runbook's "runs queue indefinitely … the concurrency key is already locked by an earlier
 * rehearsal" made a check. Every slot the burst took must be back (active slots at most what they were before
 * it) within the bound; one that is not keeps the next rehearsal waiting, and is a failure that says who holds it.
 */
export function judgeSlotsReleased(evidence: RecoveryEvidence): Check {
  const base = { id: SLOTS_RELEASED, step: 'validate', title: 'every slot the rehearsal took came back' };
  const held = evidence.limits.filter((r) => r.after > r.before);
  const expected = Object.fromEntries(evidence.limits.map((r) => [r.limit, r.before]));
  const actual = Object.fromEntries(evidence.limits.map((r) => [r.limit, r.after]));
  if (evidence.unfinished > 0)
    return {
      ...base,
      verdict: 'inconclusive',
      expected,
      actual,
      reason: `${evidence.unfinished} rehearsal run(s) are not final, so their slots are not due back yet (${describe(evidence.limits)})`,
    };
  if (held.length === 0)
    return {
      ...base,
      verdict: 'pass',
      expected,
      actual,
      reason: `active slots back to what they were before the burst (${describe(evidence.limits)})${evidence.waitedSeconds >= 1 ? ` after ${Math.round(evidence.waitedSeconds)} s` : ''}`,
    };
  const who = evidence.liveRuns.length
    ? `${evidence.liveRuns.length} live run(s) of the deployment may hold them: ${evidence.liveRuns.slice(0, 5).join(', ')}`
    : evidence.serverRestartedAt
      ? `no live run of the deployment holds them: the server restarted at ${evidence.serverRestartedAt} and Prefect keeps concurrency leases in memory by default, so these slots have no lease left to expire and stay held for good`
      : 'no live run of the deployment holds them: orphaned, as a run killed with its process leaves them until its lease expires';
  const extra = held.map((r) => `${r.limit} holds ${r.after - r.before} more than before (${r.before} -> ${r.after})`);
  return {
    ...base,
    verdict: 'fail',
    expected,
    actual,
    reason:
      `${extra.join('; ')} after ${Math.round(evidence.waitedSeconds)} s (bound ${Math.round(evidence.boundSeconds)} s): ` +
      `the next rehearsal would wait for them; ${who}; \`rehearse cleanup\` gives back slots no live run holds`,
  };
}
