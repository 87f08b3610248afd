import type { Clock } from '../context.js';
import { mapLimited } from '../util/map-limited.js';
import type { ApiRequest, ApiResponse, PrefectApi } from './api.js';
import { parseRuns, TERMINAL } from './runs.js';
import type { FlowRun } from './schemas.js';

/**
 * Cancelling a rehearsal's runs. It runs while the rehearsal itself is failing or being aborted,
 * so no abort signal: its own deadline bounds it, and it keeps trying through a busy server.
 */

export interface CancelOptions {
  /** Kept by the server as the state message. */
  reason: string;
  /** How long to keep trying through 503s or a restarting server. */
  deadlineMs?: number;
  /** How long a worker gets to stop a started run before its final state is forced. */
  graceMs?: number;
  clock: Clock;
}

export interface CancelledRun {
  id: string;
  name: string;
  /** The state it was in when rehearse cancelled it. */
  from: string;
  state: 'CANCELLED' | 'CANCELLING';
  /** Set when no worker stopped the run within the grace period and rehearse forced Cancelled. */
  forced?: boolean;
  status: number;
}

export interface CancelOutcome {
  /** Every run of the rehearsal found, by id or by tag. */
  runIds: string[];
  cancelled: CancelledRun[];
  /** Runs still not final when the deadline passed, or that the server could not be asked about. */
  leftOver: string[];
}

const RETRY_MS = 1000;
const CONFIRM_ROUNDS = 4;
const failed = (response: ApiResponse): boolean => response.status === 0 || response.status >= 500;

/** The server, and until when a request is resent through 5xx answers and unreachable moments. */
interface Patience {
  api: PrefectApi;
  clock: Clock;
  deadline: number;
}

async function requestPatiently(p: Patience, request: ApiRequest): Promise<ApiResponse> {
  for (;;) {
    const response = await p.api.request(request, { signal: undefined });
    if (!failed(response) || p.clock.now() + RETRY_MS > p.deadline) return response;
    await p.clock.sleep(RETRY_MS);
  }
}

async function listRuns(p: Patience, filters: Record<string, unknown>[]): Promise<Map<string, FlowRun> | undefined> {
  const runs = new Map<string, FlowRun>();
  for (const filter of filters) {
    const body = { flow_runs: filter, limit: 200 };
    const response = await requestPatiently(p, { method: 'POST', path: '/flow_runs/filter', body, readOnly: true });
    if (response.status !== 200) return undefined;
    for (const run of parseRuns(JSON.parse(response.text))) runs.set(run.id, run);
  }
  return runs;
}

async function setState(p: Patience, id: string, type: CancelledRun['state'], message: string): Promise<number> {
  const body = { state: { type, message }, force: true };
  const request: ApiRequest = {
    method: 'POST',
    path: `/flow_runs/${id}/set_state`,
    body,
    readOnly: false,
    retrySafe: true,
  };
  return (await requestPatiently(p, request)).status;
}

/** A started run goes to Cancelling so its worker stops the process; one that never started is Cancelled outright. */
const cancelTypeFor = (run: FlowRun): CancelledRun['state'] =>
  run.state_type === 'RUNNING' || run.state_type === 'CANCELLING' ? 'CANCELLING' : 'CANCELLED';

/** Waits for workers to stop the Cancelling runs, then forces Cancelled on those nobody stopped. */
async function settleCancelling(p: Patience, runs: CancelledRun[], options: Required<CancelOptions>): Promise<void> {
  const cancelling = runs.filter((r) => r.state === 'CANCELLING');
  if (cancelling.length === 0) return;
  const grace: Patience = { ...p, deadline: Math.min(p.clock.now() + options.graceMs, p.deadline) };
  let open = cancelling.map((r) => r.id);
  while (open.length > 0 && p.clock.now() < grace.deadline) {
    await p.clock.sleep(RETRY_MS);
    const now = await listRuns(grace, [{ id: { any_: open } }]);
    if (now) open = open.filter((id) => !TERMINAL.has(now.get(id)?.state_type ?? ''));
  }
  const message = `${options.reason} (no worker stopped it within ${Math.round(options.graceMs / 1000)} s)`;
  for (const run of cancelling.filter((r) => open.includes(r.id))) {
    Object.assign(run, { state: 'CANCELLED', forced: true, status: await setState(p, run.id, 'CANCELLED', message) });
  }
}

/** Cancels the unfinished runs named by id or carrying `tag`; never throws for a server that will not answer. */
export async function cancelFlowRuns(
  api: PrefectApi,
  ids: readonly string[],
  tag: string | undefined,
  options: CancelOptions,
): Promise<CancelOutcome> {
  const settings = { deadlineMs: 60_000, graceMs: 20_000, ...options };
  const p: Patience = { api, clock: options.clock, deadline: options.clock.now() + settings.deadlineMs };
  // By tag as well as by id: a run the CLI created just before it was stopped has not told us its id.
  const filters = [...(ids.length ? [{ id: { any_: ids } }] : []), ...(tag ? [{ tags: { all_: [tag] } }] : [])];
  const found = await listRuns(p, filters);
  if (!found) return { runIds: [...ids], cancelled: [], leftOver: [...ids] };
  const cancelled = new Map<string, CancelledRun>();
  let open = [...found.values()].filter((r) => !TERMINAL.has(r.state_type ?? ''));
  // A worker that picked a run up as it was cancelled can still move it on (Pending -> Running):
  // read the runs again after each round and cancel what is still open, until all are final.
  for (let round = 0; open.length > 0 && round < CONFIRM_ROUNDS && p.clock.now() < p.deadline; round += 1) {
    const ended = await cancelRound(p, open, settings);
    for (const run of ended) cancelled.set(run.id, { ...run, from: cancelled.get(run.id)?.from ?? run.from });
    await p.clock.sleep(RETRY_MS);
    const now = await listRuns(p, [{ id: { any_: [...found.keys()] } }]);
    open = now ? [...now.values()].filter((r) => !TERMINAL.has(r.state_type ?? '')) : open;
  }
  const failedIds = [...cancelled.values()].filter((r) => r.status < 200 || r.status >= 300).map((r) => r.id);
  const leftOver = [...new Set([...failedIds, ...open.map((r) => r.id)])];
  return { runIds: [...new Set([...ids, ...found.keys()])], cancelled: [...cancelled.values()], leftOver };
}

async function cancelRound(p: Patience, open: FlowRun[], settings: Required<CancelOptions>): Promise<CancelledRun[]> {
  const cancelled = await mapLimited(open, 4, async (run): Promise<CancelledRun> => {
    const state = cancelTypeFor(run);
    const status = await setState(p, run.id, state, settings.reason);
    return { id: run.id, name: run.name, from: run.state_name ?? run.state_type ?? '?', state, status };
  });
  await settleCancelling(p, cancelled, settings);
  return cancelled;
}
