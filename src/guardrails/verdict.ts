export type Verdict = 'pass' | 'fail' | 'inconclusive';

/** One judged guardrail: what was expected, what Prefect reported, and why the verdict. */
export interface Check {
  id: string;
  step: string;
  title: string;
  verdict: Verdict;
  expected?: unknown;
  actual?: unknown;
  reason: string;
}

const rank: Record<Verdict, number> = { pass: 0, inconclusive: 1, fail: 2 };

/** The worst verdict of a list; an empty list proves nothing. */
export function worstVerdict(checks: readonly Pick<Check, 'verdict'>[]): Verdict {
  if (checks.length === 0) return 'inconclusive';
  return checks.reduce<Verdict>((worst, check) => (rank[check.verdict] > rank[worst] ? check.verdict : worst), 'pass');
}
