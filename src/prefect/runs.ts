import { z } from 'zod';
import { RehearseError } from '../errors.js';
import { expectJson, type PrefectApi } from './api.js';
import { FlowRunSchema, StateSchema, type FlowRun, type State } from './schemas.js';

/** Flow-run questions asked of the REST API in bulk: never one Python process per run. */

const PAGE = 200;
export const TERMINAL = new Set(['COMPLETED', 'FAILED', 'CANCELLED', 'CRASHED']);

function parseRuns(value: unknown): FlowRun[] {
  const parsed = z.array(FlowRunSchema).safeParse(value);
  if (!parsed.success) throw new RehearseError('UNEXPECTED_OUTPUT', 'Prefect returned flow runs in a shape rehearse does not know');
  return parsed.data;
}

export async function createFlowRun(api: PrefectApi, deploymentId: string, body: { parameters: Record<string, unknown>; work_queue_name?: string; tags?: string[] }): Promise<FlowRun | undefined> {
  const response = await api.request({ method: 'POST', path: `/deployments/${deploymentId}/create_flow_run`, body, readOnly: false });
  const value = expectJson(response, 'creating a flow run');
  if (value === null) return undefined; // a dry run
  const parsed = FlowRunSchema.safeParse(value);
  if (!parsed.success) throw new RehearseError('UNEXPECTED_OUTPUT', 'Prefect returned a created flow run in a shape rehearse does not know');
  return parsed.data;
}

/** Runs matching a filter, following pages of 200 (the API refuses more). */
export async function filterFlowRuns(api: PrefectApi, filter: Record<string, unknown>, options: { max?: number; sort?: string } = {}): Promise<FlowRun[]> {
  const out: FlowRun[] = [];
  for (let offset = 0; ; offset += PAGE) {
    const body = { flow_runs: filter, sort: options.sort ?? 'START_TIME_ASC', limit: PAGE, offset };
    const page = parseRuns(expectJson(await api.request({ method: 'POST', path: '/flow_runs/filter', body, readOnly: true }), 'listing flow runs'));
    out.push(...page);
    if (page.length < PAGE || (options.max !== undefined && out.length >= options.max)) return out;
  }
}

export async function readFlowRuns(api: PrefectApi, ids: readonly string[]): Promise<FlowRun[]> {
  if (ids.length === 0) return [];
  const runs = await filterFlowRuns(api, { id: { any_: ids } });
  const order = new Map(ids.map((id, i) => [id, i]));
  return runs.sort((a, b) => (order.get(a.id) ?? 0) - (order.get(b.id) ?? 0));
}

export async function readStateHistory(api: PrefectApi, flowRunId: string): Promise<State[]> {
  // The trailing slash matters: without it the server answers with a redirect.
  const response = await api.request({ method: 'GET', path: `/flow_run_states/?flow_run_id=${flowRunId}`, readOnly: true });
  const parsed = z.array(StateSchema).safeParse(expectJson(response, `reading the state history of ${flowRunId}`));
  if (!parsed.success) throw new RehearseError('UNEXPECTED_OUTPUT', `Prefect returned the state history of ${flowRunId} in a shape rehearse does not know`);
  return parsed.data;
}

/** Apply fn to items with at most `limit` in flight, keeping order. */
export async function mapLimited<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

/**
 * Cancel runs even while the rehearsal itself is being aborted (so no abort signal here):
 * a run not yet started is Cancelled outright, a started one is Cancelling so its worker stops it.
 */
export async function cancelFlowRuns(api: PrefectApi, ids: readonly string[], tag?: string): Promise<{ runIds: string[]; cancelled: { id: string; state: string; status: number }[] }> {
  // By tag as well as by id: a run the CLI created just before it was stopped has not told us its id.
  const filters = [{ id: { any_: ids } }, ...(tag ? [{ tags: { all_: [tag] } }] : [])];
  const runs = new Map<string, FlowRun>();
  for (const filter of filters) {
    const response = await api.request({ method: 'POST', path: '/flow_runs/filter', body: { flow_runs: filter, limit: 200 }, readOnly: true }, { signal: undefined });
    if (response.status === 200) for (const run of parseRuns(JSON.parse(response.text))) runs.set(run.id, run);
  }
  const cancelled = await mapLimited([...runs.values()].filter((r) => !TERMINAL.has(r.state_type ?? '')), 4, async (run) => {
    const type = run.state_type === 'RUNNING' || run.state_type === 'CANCELLING' ? 'CANCELLING' : 'CANCELLED';
    const body = { state: { type, message: 'Cancelled by rehearse: the rehearsal was interrupted' }, force: true };
    const answer = await api.request({ method: 'POST', path: `/flow_runs/${run.id}/set_state`, body, readOnly: false }, { signal: undefined });
    return { id: run.id, state: type, status: answer.status };
  });
  return { runIds: [...new Set([...ids, ...runs.keys()])], cancelled };
}

export interface SlotEvent {
  occurred: string;
  event: string;
  limitName: string;
  flowRunId: string | undefined;
}

const EventPageSchema = z.object({
  events: z.array(z.object({
    occurred: z.string(),
    event: z.string(),
    resource: z.record(z.string(), z.string()),
    related: z.array(z.record(z.string(), z.string())).default([]),
  }).passthrough()),
  next_page: z.string().nullish(),
});

/** Acquired/released events of global concurrency limits between two instants (the API pages by 50). */
export async function readSlotEvents(api: PrefectApi, since: string, until: string, maxPages = 200): Promise<SlotEvent[]> {
  const out: SlotEvent[] = [];
  let response = await api.request({
    method: 'POST', path: '/events/filter', readOnly: true,
    body: { filter: { event: { name: ['prefect.concurrency-limit.acquired', 'prefect.concurrency-limit.released'] }, occurred: { since, until }, order: 'ASC' }, limit: 50 },
  });
  for (let page = 0; page < maxPages; page += 1) {
    const parsed = EventPageSchema.safeParse(expectJson(response, 'reading concurrency-limit events'));
    if (!parsed.success) throw new RehearseError('UNEXPECTED_OUTPUT', 'Prefect returned events in a shape rehearse does not know');
    for (const e of parsed.data.events) {
      const run = e.related.find((r) => r['prefect.resource.role'] === 'flow-run')?.['prefect.resource.id'];
      out.push({ occurred: e.occurred, event: e.event, limitName: e.resource['prefect.resource.name'] ?? '', flowRunId: run?.replace(/^prefect\.flow-run\./, '') });
    }
    const next = parsed.data.next_page;
    if (!next) break;
    const path = next.startsWith(api.baseUrl) ? next.slice(api.baseUrl.length) : new URL(next).pathname.replace(/^\/api/, '') + new URL(next).search;
    response = await api.request({ method: 'GET', path, readOnly: true });
  }
  return out;
}
