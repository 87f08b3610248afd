/**
 * Why a rehearsal did not pass, in the words every output leads with (report.html's banner, notes.md's
 * verdict, the terminal's closing table, the CI job summary): each failed or inconclusive check as one
 * line of reason and what to do about it.
 */
import type { Check, Verdict } from '../guardrails/verdict.js';
import { enableGlobalLimitArgs, updateGlobalLimitArgs } from '../prefect/cli-args.js';
import { prefectLine } from '../prefect/fixes.js';

export interface CheckWhy {
  check: Check;
  /** The reason's first clause: what went wrong, without the windows and run names that back it. */
  headline: string;
  /** What to run or do; always something, at worst where to look. */
  fix: string;
}

const HEADLINE_MAX = 200;
const rank: Record<Verdict, number> = { fail: 0, inconclusive: 1, pass: 2 };

/** Failed checks first, then inconclusive ones, then the passes; each group in its recorded order. */
export const worstFirst = <T extends Pick<Check, 'verdict'>>(checks: readonly T[]): T[] =>
  checks
    .map((check, index) => ({ check, index }))
    .sort((a, b) => rank[a.check.verdict] - rank[b.check.verdict] || a.index - b.index)
    .map((x) => x.check);

/** The checks that did not pass, failed first. */
export const notPassed = (checks: readonly Check[]): Check[] => worstFirst(checks.filter((c) => c.verdict !== 'pass'));

/** A fix the check wrote into its reason: "…; fix: <what>", "(enable it: <what>)", "…: restore it, or …". */
function splitReason(reason: string): { reason: string; fix?: string } {
  const stated = /;?\s*fix: /.exec(reason);
  if (stated) return { reason: reason.slice(0, stated.index), fix: reason.slice(stated.index + stated[0].length) };
  const enable = /\s*\(enable it: ([^)]+)\)\s*$/.exec(reason);
  if (enable?.[1]) return { reason: reason.slice(0, enable.index), fix: enable[1] };
  const restore = /: (restore it, or accept it .*)$/.exec(reason);
  if (restore?.[1]) return { reason: reason.slice(0, restore.index), fix: restore[1] };
  return { reason };
}

function headlineOf(reason: string): string {
  const first = reason.split(/; | \| /)[0] ?? reason;
  return first.length > HEADLINE_MAX ? `${first.slice(0, HEADLINE_MAX - 1)}…` : first;
}

const record = (value: unknown): Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : {};

/** The live global limit against the manifest's number: enable it and set its limit back. */
function globalLimitFix(check: Check): string | undefined {
  const live = record(check.actual);
  if (typeof live.name !== 'string') return undefined;
  const steps: string[] = [];
  if (live.active === false) steps.push(prefectLine(['prefect'], enableGlobalLimitArgs(live.name)));
  if (typeof check.expected === 'number' && live.limit !== check.expected)
    steps.push(prefectLine(['prefect'], updateGlobalLimitArgs(live.name, check.expected)));
  return steps.length ? steps.join(' && ') : undefined;
}

/** A fix by the kind of check, for the reasons that carry none. */
function fixByKind(check: Check, manifest: string): string {
  const [family = ''] = check.id.split('.');
  if (check.id === 'global_limit') {
    const command = globalLimitFix(check);
    if (command) return command;
  }
  if (check.verdict === 'inconclusive')
    return 'nothing proved this either way: make the guardrail measurable (declared, active, the runs finished) and rerun `rehearse backfill`';
  if (family === 'concurrency')
    return `restore the limits ${manifest} declares (the failed inspect checks say which), then rerun \`rehearse backfill\`; the release stays halted until it passes`;
  if (['deployment', 'parameters', 'global_limit', 'work_pool'].includes(family))
    return `make the live deployment match ${manifest} (redeploy it, or change the manifest), then rerun \`rehearse backfill\``;
  if (family === 'runs' || family === 'slots')
    return '`rehearse cleanup --all` ends leftover runs and frees their slots; then rerun `rehearse backfill`';
  return 'the reason says what went wrong; fix that and rerun `rehearse backfill`';
}

/** A command stated bare becomes code; a fix that already marks its code is left as it is. */
const asCode = (fix: string): string =>
  fix.includes('`') || !/^(uv run |prefect |rehearse )/.test(fix) ? fix : `\`${fix}\``;

/** One failed or inconclusive check as a headline and a fix. `manifest` names where the guardrails are declared. */
export function explainCheck(check: Check, manifest = 'the manifest'): CheckWhy {
  const { reason, fix } = splitReason(check.reason);
  return { check, headline: headlineOf(reason), fix: asCode(fix ?? fixByKind(check, manifest)) };
}

/** Every check that did not pass, explained, failed first. */
export function explainFailures(checks: readonly Check[], manifest?: unknown): CheckWhy[] {
  const where = typeof manifest === 'string' && manifest ? `\`${manifest}\`` : 'the manifest';
  return notPassed(checks).map((check) => explainCheck(check, where));
}
