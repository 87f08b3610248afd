import type { Clock } from '../context.js';
import { mapLimited } from '../util/map-limited.js';
import type { ApiRequest, ApiResponse, PrefectApi } from './api.js';
import { filterFlowRuns, readStateHistory } from './runs.js';
import type { FlowRun } from './schemas.js';
import { TERMINAL } from './schemas.js';

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
  /**
   * How long runs a worker had claimed when they were cancelled are watched afterwards: the flow
   * process it spawned can still set such a run Running (the server lets Cancelled go to Running).
   */
  comebackMs?: number;
  /** Told when the cancel has to wait on runs that may come back, so a waiting operator knows why. */
  progress?: (line: string) => void;
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
  /** Set when the run was final once and its flow process set it going again, so it was cancelled again. */
  cameBack?: boolean;
  status: number;
}

export interface CancelOutcome {
  /** Every run of the rehearsal found, by id or by tag. */
  runIds: string[];
  cancelled: CancelledRun[];
  /** Runs still not final when the deadline passed, or that the server could not be asked about. */
  leftOver: string[];
  /** Set when the server never answered the first read: nothing is known of the runs, none was cancelled. */
  unanswered?: boolean;
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

/** The server with every request sent patiently, for the shared readers. */
const patientApi = (p: Patience): PrefectApi => ({ ...p.api, request: (request) => requestPatiently(p, request) });

/**
 * The runs matching each filter, every page of them (a rehearsal can have more runs than one page
 * holds), each request sent patiently; undefined when the server would not answer.
 */
async function listRuns(p: Patience, filters: Record<string, unknown>[]): Promise<Map<string, FlowRun> | undefined> {
  const patient = patientApi(p);
  const runs = new Map<string, FlowRun>();
  for (const filter of filters) {
    const found = await filterFlowRuns(patient, filter, { sort: 'ID_DESC' }).catch(() => undefined);
    if (!found) return undefined;
    for (const run of found) runs.set(run.id, run);
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

/**
 * A run with a process goes to Cancelling so the process is stopped: a Running one by its worker or
 * flow process, a Pending one (claimed, its process starting) by its worker. One no worker has
 * claimed is Cancelled outright.
 */
const WITH_PROCESS = new Set(['RUNNING', 'CANCELLING', 'PENDING']);
export const cancelTypeFor = (run: FlowRun): CancelledRun['state'] =>
  WITH_PROCESS.has(run.state_type ?? '') ? 'CANCELLING' : 'CANCELLED';

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
  const settings = { deadlineMs: 60_000, graceMs: 20_000, comebackMs: 20_000, progress: () => {}, ...options };
  const p: Patience = { api, clock: options.clock, deadline: options.clock.now() + settings.deadlineMs };
  // By tag as well as by id: a run the CLI created just before it was stopped has not told us its id.
  const filters = [...(ids.length ? [{ id: { any_: ids } }] : []), ...(tag ? [{ tags: { all_: [tag] } }] : [])];
  const found = await listRuns(p, filters);
  if (!found) return { runIds: [...ids], cancelled: [], leftOver: [...ids], unanswered: true };
  const cancelled = new Map<string, CancelledRun>();
  const record = (ended: CancelledRun[], cameBack = false): void => {
    for (const run of ended) {
      const first = cancelled.get(run.id);
      cancelled.set(run.id, {
        ...run,
        from: first?.from ?? run.from,
        ...(cameBack || first?.cameBack ? { cameBack: true } : {}),
      });
    }
  };
  let open = openRuns(found);
  // A worker that picked a run up as it was cancelled can still move it on (Pending -> Running):
  // read the runs again after each round and cancel what is still open, until all are final.
  for (let round = 0; open.length > 0 && round < CONFIRM_ROUNDS && p.clock.now() < p.deadline; round += 1) {
    record(await cancelRound(p, open, settings));
    await p.clock.sleep(RETRY_MS);
    const now = await listRuns(p, [{ id: { any_: [...found.keys()] } }]);
    open = now ? openRuns(now) : open;
  }
  if (open.length === 0) open = await watchComebacks(p, await claimedRuns(p, openRuns(found)), settings, record);
  const failedIds = [...cancelled.values()].filter((r) => r.status < 200 || r.status >= 300).map((r) => r.id);
  const leftOver = [...new Set([...failedIds, ...open.map((r) => r.id)])];
  return { runIds: [...new Set([...ids, ...found.keys()])], cancelled: [...cancelled.values()], leftOver };
}

const openRuns = (runs: Map<string, FlowRun>): FlowRun[] =>
  [...runs.values()].filter((r) => !TERMINAL.has(r.state_type ?? ''));

async function cancelRound(p: Patience, open: FlowRun[], settings: Required<CancelOptions>): Promise<CancelledRun[]> {
  const cancelled = await mapLimited(open, 4, async (run): Promise<CancelledRun> => {
    const state = cancelTypeFor(run);
    const status = await setState(p, run.id, state, settings.reason);
    return { id: run.id, name: run.name, from: run.state_name ?? run.state_type ?? '?', state, status };
  });
  await settleCancelling(p, cancelled, settings);
  return cancelled;
}

/**
 * The runs a worker had claimed and not yet started when they were cancelled: their history ends,
 * before the cancel, in Pending. That covers a run read as Scheduled that a worker claimed before the
 * cancel reached the server (a busy server can take seconds), and leaves out a Pending one that came
 * back within the rounds and went through Cancelling. A history that cannot be read counts as claimed.
 */
async function claimedRuns(p: Patience, cancelledFrom: FlowRun[]): Promise<string[]> {
  const unsure = cancelledFrom.filter((run) => run.state_type !== 'RUNNING' && run.state_type !== 'CANCELLING');
  // The shared history reader, sent patiently through a busy server like every request here.
  const patient = patientApi(p);
  const claimed = await mapLimited(unsure, 4, async (run) => {
    const states = await readStateHistory(patient, run.id).catch(() => undefined);
    if (!states) return run.id;
    const types = states.sort((a, b) => Date.parse(a.timestamp) - Date.parse(b.timestamp)).map((s) => s.type);
    const beforeCancel = types.filter((t) => t !== 'CANCELLED' && t !== 'CANCELLING');
    return beforeCancel.at(-1) === 'PENDING' ? run.id : undefined;
  });
  return claimed.filter((id): id is string => id !== undefined);
}

/**
 * Watches claimed runs for the comeback window and cancels again any their flow process set going;
 * returns the runs still unfinished at the end.
 */
async function watchComebacks(
  p: Patience,
  claimed: string[],
  settings: Required<CancelOptions>,
  record: (ended: CancelledRun[], cameBack: boolean) => void,
): Promise<FlowRun[]> {
  if (claimed.length === 0) return [];
  const seconds = Math.round(settings.comebackMs / 1000);
  settings.progress(
    `waiting ${seconds} s on ${claimed.length} run(s) a worker was starting when cancelled: ` +
      'its flow process can still set them Running',
  );
  const until = Math.min(p.clock.now() + settings.comebackMs, p.deadline);
  let open: FlowRun[] = [];
  while (p.clock.now() < until) {
    await p.clock.sleep(RETRY_MS);
    const now = await listRuns(p, [{ id: { any_: claimed } }]);
    open = now ? openRuns(now) : open;
    if (open.length > 0) record(await cancelRound(p, open, settings), true);
  }
  const last = await listRuns(p, [{ id: { any_: claimed } }]);
  return last ? openRuns(last) : open;
}
