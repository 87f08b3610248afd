import { z } from 'zod';
import { RehearseError } from '../errors.js';
import { expectJson, type PrefectApi } from './api.js';
import { type FlowRun, FlowRunSchema, type State, StateSchema } from './schemas.js';

/** Flow-run questions asked of the REST API in bulk: never one Python process per run. */

const PAGE = 200;

function parseRuns(value: unknown): FlowRun[] {
  const parsed = z.array(FlowRunSchema).safeParse(value);
  if (!parsed.success)
    throw new RehearseError('UNEXPECTED_OUTPUT', 'Prefect returned flow runs in a shape rehearse does not know');
  return parsed.data;
}

export interface FlowRunCreate {
  parameters: Record<string, unknown>;
  tags: string[];
  /** The server returns the run it already made for a key it has seen: a resent POST creates nothing twice. */
  idempotency_key: string;
  work_queue_name?: string;
}

export async function createFlowRun(
  api: PrefectApi,
  deploymentId: string,
  body: FlowRunCreate,
): Promise<FlowRun | undefined> {
  const path = `/deployments/${deploymentId}/create_flow_run`;
  const response = await api.request({ method: 'POST', path, body, readOnly: false, retrySafe: true });
  const value = expectJson(response, 'creating a flow run');
  if (value === null) return undefined; // a dry run
  const parsed = FlowRunSchema.safeParse(value);
  if (!parsed.success) {
    throw new RehearseError(
      'UNEXPECTED_OUTPUT',
      'Prefect returned a created flow run in a shape rehearse does not know',
    );
  }
  return parsed.data;
}

/** Pages a filter may take: 100,000 runs, far past any rehearsal; beyond it a read fails rather than stop short. */
const MAX_PAGES = 500;

/**
 * Runs matching a filter, following pages of 200 (the API refuses more) until a short page. A page
 * that brings only runs already seen means the server ignored the offset, and a filter that is still
 * answering after `maxPages` pages was too broad: both are errors, never a silent undercount.
 * `ID_DESC` is the order that stays put while runs change state between pages.
 */
export async function filterFlowRuns(
  api: PrefectApi,
  filter: Record<string, unknown>,
  options: { max?: number; sort?: string; maxPages?: number } = {},
): Promise<FlowRun[]> {
  const out: FlowRun[] = [];
  const seen = new Set<string>();
  const maxPages = options.maxPages ?? MAX_PAGES;
  for (let offset = 0; ; offset += PAGE) {
    if (offset >= maxPages * PAGE) throw tooManyRuns(out.length);
    const body = { flow_runs: filter, sort: options.sort ?? 'START_TIME_ASC', limit: PAGE, offset };
    const page = parseRuns(
      expectJson(
        await api.request({ method: 'POST', path: '/flow_runs/filter', body, readOnly: true }),
        'listing flow runs',
      ),
    );
    const fresh = page.filter((run) => !seen.has(run.id));
    if (page.length > 0 && fresh.length < page.length) {
      throw new RehearseError(
        'UNEXPECTED_OUTPUT',
        `Prefect answered the flow runs at offset ${offset} with ${page.length - fresh.length} run(s) it had already listed: the server does not page, so the runs cannot be counted`,
        {
          hint: 'check that the API URL points at a Prefect server (not a proxy that drops the request body)',
        },
      );
    }
    for (const run of fresh) seen.add(run.id);
    out.push(...fresh);
    if (page.length < PAGE || (options.max !== undefined && out.length >= options.max)) return out;
  }
}

const tooManyRuns = (read: number): RehearseError =>
  new RehearseError('UNEXPECTED_OUTPUT', `more than ${read} flow runs match one filter: rehearse stopped reading`, {
    hint: 'the filter is bounded to a rehearsal; a server answering this many runs to it ignores the filter',
  });

export async function readFlowRuns(api: PrefectApi, ids: readonly string[]): Promise<FlowRun[]> {
  if (ids.length === 0) return [];
  const runs = await filterFlowRuns(api, { id: { any_: ids } });
  const order = new Map(ids.map((id, i) => [id, i]));
  return runs.sort((a, b) => (order.get(a.id) ?? 0) - (order.get(b.id) ?? 0));
}

export async function readStateHistory(api: PrefectApi, flowRunId: string): Promise<State[]> {
  // The trailing slash matters: without it the server answers with a redirect.
  const response = await api.request({
    method: 'GET',
    path: `/flow_run_states/?flow_run_id=${flowRunId}`,
    readOnly: true,
  });
  const parsed = z.array(StateSchema).safeParse(expectJson(response, `reading the state history of ${flowRunId}`));
  if (!parsed.success)
    throw new RehearseError(
      'UNEXPECTED_OUTPUT',
      `Prefect returned the state history of ${flowRunId} in a shape rehearse does not know`,
    );
  return parsed.data;
}

export interface SlotEvent {
  occurred: string;
  event: string;
  limitName: string;
  flowRunId: string | undefined;
  /** The slots the acquisition took or the release returned (the flow's `occupy`). */
  slots: number;
}

const EventPageSchema = z.object({
  events: z.array(
    z
      .object({
        id: z.string().optional(),
        occurred: z.string(),
        event: z.string(),
        resource: z.record(z.string(), z.string()),
        related: z.array(z.record(z.string(), z.string())).default([]),
      })
      .passthrough(),
  ),
  next_page: z.string().nullish(),
});

function toSlotEvent(e: z.infer<typeof EventPageSchema>['events'][number]): SlotEvent {
  const run = e.related.find((r) => r['prefect.resource.role'] === 'flow-run')?.['prefect.resource.id'];
  const slots = Number.parseInt(e.resource['slots-acquired'] ?? '1', 10);
  return {
    occurred: e.occurred,
    event: e.event,
    limitName: e.resource['prefect.resource.name'] ?? '',
    flowRunId: run?.replace(/^prefect\.flow-run\./, ''),
    slots: Number.isFinite(slots) && slots > 0 ? slots : 1,
  };
}

/**
 * Acquired/released events of global concurrency limits since an instant, up to `until` or else the
 * server's now (no `until` sent: the server's clock bounds the window, not ours). The API pages by 50; running out of
 * pages or a page that repeats one already read is an error: missing events would undercount slots.
 */
export async function readSlotEvents(
  api: PrefectApi,
  since: string,
  options: { until?: string; maxPages?: number } = {},
): Promise<SlotEvent[]> {
  const maxPages = options.maxPages ?? 200;
  const out: SlotEvent[] = [];
  const seen = new Set<string>();
  let response = await api.request({
    method: 'POST',
    path: '/events/filter',
    readOnly: true,
    body: {
      filter: {
        event: { name: ['prefect.concurrency-limit.acquired', 'prefect.concurrency-limit.released'] },
        occurred: { since, ...(options.until ? { until: options.until } : {}) },
        order: 'ASC',
      },
      limit: 50,
    },
  });
  for (let page = 1; ; page += 1) {
    const parsed = EventPageSchema.safeParse(expectJson(response, 'reading concurrency-limit events'));
    if (!parsed.success)
      throw new RehearseError('UNEXPECTED_OUTPUT', 'Prefect returned events in a shape rehearse does not know');
    const repeated = parsed.data.events.filter((e) => e.id !== undefined && seen.has(e.id)).length;
    if (repeated > 0) {
      throw new RehearseError(
        'UNEXPECTED_OUTPUT',
        `page ${page} of concurrency-limit events repeats ${repeated} event(s) already read: the server does not advance its pages, so occupied slots cannot be counted`,
      );
    }
    for (const e of parsed.data.events) {
      if (e.id !== undefined) seen.add(e.id);
      out.push(toSlotEvent(e));
    }
    const next = parsed.data.next_page;
    if (!next) return out;
    if (page >= maxPages) {
      throw new RehearseError(
        'UNEXPECTED_OUTPUT',
        `more than ${maxPages * 50} concurrency-limit events since ${since}: rehearse stopped at ${out.length} rather than count slots from part of them`,
        {
          hint: 'validate the rehearsal soon after it ran, or on a server whose other flows do not flood the event log',
        },
      );
    }
    const path = next.startsWith(api.baseUrl)
      ? next.slice(api.baseUrl.length)
      : new URL(next).pathname.replace(/^\/api/, '') + new URL(next).search;
    response = await api.request({ method: 'GET', path, readOnly: true });
  }
}
