import { mapLimited } from '../util/map-limited.js';
import { sleep } from '../util/sleep.js';
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

async function requestPatiently(api: PrefectApi, request: ApiRequest, deadline: number): Promise<ApiResponse> {
  for (;;) {
    const response = await api.request(request, { signal: undefined });
    if (!failed(response) || Date.now() + RETRY_MS > deadline) return response;
    await sleep(RETRY_MS);
  }
}

async function listRuns(
  api: PrefectApi,
  filters: Record<string, unknown>[],
  deadline: number,
): Promise<Map<string, FlowRun> | undefined> {
  const runs = new Map<string, FlowRun>();
  for (const filter of filters) {
    const body = { flow_runs: filter, limit: 200 };
    const response = await requestPatiently(
      api,
      { method: 'POST', path: '/flow_runs/filter', body, readOnly: true },
      deadline,
    );
    if (response.status !== 200) return undefined;
    for (const run of parseRuns(JSON.parse(response.text))) runs.set(run.id, run);
  }
  return runs;
}

async function setState(
  api: PrefectApi,
  id: string,
  type: CancelledRun['state'],
  message: string,
  deadline: number,
): Promise<number> {
  const body = { state: { type, message }, force: true };
  const request: ApiRequest = {
    method: 'POST',
    path: `/flow_runs/${id}/set_state`,
    body,
    readOnly: false,
    retrySafe: true,
  };
  return (await requestPatiently(api, request, deadline)).status;
}

/** A started run goes to Cancelling so its worker stops the process; one that never started is Cancelled outright. */
const cancelTypeFor = (run: FlowRun): CancelledRun['state'] =>
  run.state_type === 'RUNNING' || run.state_type === 'CANCELLING' ? 'CANCELLING' : 'CANCELLED';

/** Waits for workers to stop the Cancelling runs, then forces Cancelled on those nobody stopped. */
async function settleCancelling(
  api: PrefectApi,
  runs: CancelledRun[],
  options: Required<CancelOptions>,
  deadline: number,
): Promise<void> {
  const cancelling = runs.filter((r) => r.state === 'CANCELLING');
  if (cancelling.length === 0) return;
  const graceEnd = Math.min(Date.now() + options.graceMs, deadline);
  let open = cancelling.map((r) => r.id);
  while (open.length > 0 && Date.now() < graceEnd) {
    await sleep(RETRY_MS);
    const now = await listRuns(api, [{ id: { any_: open } }], graceEnd);
    if (now) open = open.filter((id) => !TERMINAL.has(now.get(id)?.state_type ?? ''));
  }
  const message = `${options.reason} (no worker stopped it within ${Math.round(options.graceMs / 1000)} s)`;
  for (const run of cancelling.filter((r) => open.includes(r.id))) {
    Object.assign(run, {
      state: 'CANCELLED',
      forced: true,
      status: await setState(api, run.id, 'CANCELLED', message, deadline),
    });
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
  const deadline = Date.now() + settings.deadlineMs;
  // By tag as well as by id: a run the CLI created just before it was stopped has not told us its id.
  const filters = [...(ids.length ? [{ id: { any_: ids } }] : []), ...(tag ? [{ tags: { all_: [tag] } }] : [])];
  const found = await listRuns(api, filters, deadline);
  if (!found) return { runIds: [...ids], cancelled: [], leftOver: [...ids] };
  const cancelled = new Map<string, CancelledRun>();
  let open = [...found.values()].filter((r) => !TERMINAL.has(r.state_type ?? ''));
  // A worker that picked a run up as it was cancelled can still move it on (Pending -> Running):
  // read the runs again after each round and cancel what is still open, until all are final.
  for (let round = 0; open.length > 0 && round < CONFIRM_ROUNDS && Date.now() < deadline; round += 1) {
    const ended = await cancelRound(api, open, settings, deadline);
    for (const run of ended) cancelled.set(run.id, { ...run, from: cancelled.get(run.id)?.from ?? run.from });
    await sleep(RETRY_MS);
    const now = await listRuns(api, [{ id: { any_: [...found.keys()] } }], deadline);
    open = now ? [...now.values()].filter((r) => !TERMINAL.has(r.state_type ?? '')) : open;
  }
  const failedIds = [...cancelled.values()].filter((r) => r.status < 200 || r.status >= 300).map((r) => r.id);
  const leftOver = [...new Set([...failedIds, ...open.map((r) => r.id)])];
  return { runIds: [...new Set([...ids, ...found.keys()])], cancelled: [...cancelled.values()], leftOver };
}

async function cancelRound(
  api: PrefectApi,
  open: FlowRun[],
  settings: Required<CancelOptions>,
  deadline: number,
): Promise<CancelledRun[]> {
  const cancelled = await mapLimited(open, 4, async (run): Promise<CancelledRun> => {
    const state = cancelTypeFor(run);
    const status = await setState(api, run.id, state, settings.reason, deadline);
    return { id: run.id, name: run.name, from: run.state_name ?? run.state_type ?? '?', state, status };
  });
  await settleCancelling(api, cancelled, settings, deadline);
  return cancelled;
}
