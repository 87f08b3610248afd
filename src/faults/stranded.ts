import type { Context } from '../context.js';
import { messageOf } from '../errors.js';
import type { FaultRecord } from '../guardrails/fault-record.js';
import { cancelFlowRuns } from '../prefect/cancel.js';
import type { FlowRun } from '../prefect/schemas.js';
import { TERMINAL } from '../prefect/schemas.js';
import type { KeySlots } from './scheduler.js';

/**
 * Runs stranded behind orphaned slots. Prefect 3.9 keeps concurrency leases in memory: a server restarted
 * mid-burst forgets the leases of the runs that held the key, those runs fail, and their slots stay held
 * for good. A run still waiting for the key then waits until the watch's deadline: Scheduled
 * (AwaitingConcurrencySlot) behind the deployment's limit, or Running inside the flow's `concurrency()`
 * once the deployment's slots came back (measured on PostgreSQL). This watch sees it after a server fault
 * came back: the key's limit full, fewer runs Running than slots held (a slot no run of the rehearsal can
 * hold), and no run's state changed for a grace. It cancels the unfinished runs as the fault's doing and
 * lets the rehearsal end: validate's slots.released then fails naming the held slots, its rollback frees them.
 */

/**
 * How long the stranded picture must hold before the runs are cancelled. A slot released normally is taken
 * within seconds (the sandbox's waiting runs retry every 1 s, and a run ending or starting changes the
 * picture), so 30 s is ample; it is not tied to the 60 s lease, which the restarted server no longer knows.
 */
export const STRANDED_GRACE_MS = 30_000;

type Stranded = NonNullable<FaultRecord['strandedRuns']>;

export interface StrandedWatch {
  /** Each poll's runs, once a server fault came back (`backAt`); undefined before that. */
  onRuns(runs: readonly FlowRun[], backAt: string | undefined): void;
  /** What was cancelled, for the fault's record; undefined while nothing was. */
  found(): Stranded | undefined;
}

const WAITS = new Set(['SCHEDULED', 'RUNNING']);

/** The unfinished runs, when each is Scheduled or Running (none starting or being cancelled), and at least one. */
function allWaiting(runs: readonly FlowRun[]): FlowRun[] {
  const open = runs.filter((r) => !TERMINAL.has(r.state_type ?? ''));
  return open.every((r) => WAITS.has(r.state_type ?? '')) ? open : [];
}

/** The runs' states as one string: the grace starts again whenever it changes. */
const pictureOf = (runs: readonly FlowRun[]): string =>
  runs
    .map((r) => `${r.id}=${r.state_name ?? r.state_type}`)
    .sort()
    .join(',');

/** The key full, with fewer runs Running than slots held: a held slot no run of the rehearsal can hold. */
const orphaned = (slots: { active: number; limit: number } | undefined, waiting: readonly FlowRun[]): boolean =>
  slots !== undefined &&
  slots.active >= slots.limit &&
  waiting.filter((r) => r.state_type === 'RUNNING').length < slots.active;

/** Cancels the stranded runs, each counted as the fault's doing; what was done, for faults.json. */
async function cancel(
  ctx: Context,
  { key, hit }: { key: KeySlots; hit: Set<string> },
  waiting: FlowRun[],
  slots: { active: number; limit: number },
  backAt: string,
): Promise<Stranded> {
  const reason =
    `stranded: no run changed state for ${STRANDED_GRACE_MS / 1000} s after the server came back at ${backAt} ` +
    `while ${key.name} held ${slots.active}/${slots.limit} slots, more than the runs Running could hold: ` +
    "their holders' leases were lost with the restarted server";
  for (const run of waiting) hit.add(run.id);
  ctx.reporter.emit({ type: 'warn', message: `cancelling ${waiting.map((r) => r.name).join(', ')}: ${reason}` });
  const at = ctx.now().toISOString();
  const ids = waiting.map((r) => r.id);
  const outcome = await cancelFlowRuns(ctx.api, ids, undefined, {
    reason: `Cancelled by rehearse: ${reason}`,
    clock: ctx.clock,
  });
  return {
    at,
    reason,
    slots: { limit: key.name, active: slots.active, of: slots.limit },
    runs: outcome.cancelled.map((r) => ({ id: r.id, name: r.name, from: r.from, to: r.state })),
  };
}

export function strandedWatch(
  ctx: Context,
  key: KeySlots | undefined,
  hit: Set<string>,
  underWay: Promise<void>[],
): StrandedWatch {
  let sinceMs: number | undefined;
  let picture = '';
  let probing = false;
  let found: Stranded | undefined;

  return {
    onRuns(runs, backAt) {
      const waiting = allWaiting(runs);
      if (!key || backAt === undefined || found || waiting.length === 0 || pictureOf(runs) !== picture) {
        sinceMs = undefined;
        picture = pictureOf(runs);
        return;
      }
      if (probing) return;
      probing = true;
      const now = ctx.clock.now();
      const held = key;
      const done = held
        .read()
        .catch(() => undefined)
        .then(async (slots) => {
          if (found || !slots || !orphaned(slots, waiting)) {
            sinceMs = undefined;
            return;
          }
          sinceMs ??= now;
          if (ctx.clock.now() - sinceMs >= STRANDED_GRACE_MS)
            found = await cancel(ctx, { key: held, hit }, waiting, slots, backAt);
        })
        // A cancel that throws must not reject the watch's faults (faults.json would never be written): say so.
        .catch((caught: unknown) => {
          ctx.reporter.emit({ type: 'warn', message: ctx.redact(`stranded runs not cancelled: ${messageOf(caught)}`) });
        })
        .finally(() => {
          probing = false;
        });
      underWay.push(done);
    },
    found: () => found,
  };
}
