import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { ApiRequest, ApiResponse, PrefectApi } from '../../src/prefect/api.js';

/** What a faked route answers; status 0 stands for a server that could not be reached. */
export interface FakeResponse {
  status: number;
  text: string;
  networkError?: string;
}

/**
 * What a route answers: one response every time; a list answered in turn, its last repeating
 * (runs created one after another); or a function of the request, for a server that filters.
 */
type FakeRoute = FakeResponse | readonly FakeResponse[] | ((request: ApiRequest) => FakeResponse);

/** Routes keyed `METHOD path`, e.g. `GET /deployments/name/hotpass-backfill/hotpass-backfill`. */
export type FakeRoutes = Record<string, FakeRoute>;

export interface FakeApi extends PrefectApi {
  /** Every request made, in order. */
  readonly requests: ApiRequest[];
}

const FAKE_API_URL = 'http://127.0.0.1:4200/api';
export const NOT_FOUND: FakeResponse = { status: 404, text: '{"detail":"Not Found"}' };
export const UNREACHABLE: FakeResponse = { status: 0, text: '', networkError: 'ECONNREFUSED' };

const FIXTURES = fileURLToPath(new URL('../../fixtures/prefect/3.9.1/', import.meta.url));

/** A file recorded from the Prefect 3.9.1 server, exactly as it was recorded. */
export function recorded(name: string): string {
  return readFileSync(`${FIXTURES}${name}`, 'utf8');
}

/** The recorded deployment as a fresh, mutable object. */
export function recordedDeployment(): Record<string, unknown> & { parameters: Record<string, unknown> } {
  return JSON.parse(recorded('deployment.api.json')) as Record<string, unknown> & {
    parameters: Record<string, unknown>;
  };
}

/**
 * The routes the inspect step asks, answered from the recorded server; `deploymentText`
 * replaces the recorded deployment (for mutated copies).
 */
export function recordedRoutes(options: { deploymentText?: string } = {}): FakeRoutes {
  const deploymentText = options.deploymentText ?? recorded('deployment.api.json');
  const deployment = JSON.parse(deploymentText) as { flow_id: string };
  return {
    'POST /deployments/filter': { status: 200, text: `[${deploymentText}]` },
    'POST /flows/filter': { status: 200, text: JSON.stringify([{ id: deployment.flow_id, name: 'hotpass-backfill' }]) },
    'GET /deployments/name/hotpass-backfill/hotpass-backfill': { status: 200, text: deploymentText },
    'GET /v2/concurrency_limits/hotpass-backfill': { status: 200, text: recorded('gcl.json') },
    'GET /work_pools/hotpass-backfill-pool': { status: 200, text: recorded('work-pool.api.json') },
    'POST /work_pools/hotpass-backfill-pool/workers/filter': { status: 200, text: recorded('workers.json') },
    'GET /admin/version': { status: 200, text: '"3.9.1"' },
    'GET /health': { status: 200, text: 'true' },
  };
}

/**
 * Prefect's variables as the 3.9.1 server keeps them (the deployment claim of prefect/claim.ts): a create of a
 * name it holds is a 409, a name it lacks a 404, in the shapes recorded from it. Routes in the table win.
 */
function variableStore(): (request: ApiRequest) => FakeResponse | undefined {
  const held = new Map<string, unknown>();
  const notFound = { status: 404, text: recorded('variable.not-found.json') };
  return (request) => {
    if (request.method === 'POST' && request.path === '/variables/') {
      const { name, value } = request.body as { name: string; value: unknown };
      if (held.has(name))
        return { status: 409, text: recorded('variable.claim.409.json').replace(/'[^']*'/, `'${name}'`) };
      held.set(name, value);
      return { status: 201, text: JSON.stringify({ ...JSON.parse(recorded('variable.claim.json')), name, value }) };
    }
    const name = /^\/variables\/name\/(.+)$/.exec(request.path)?.[1];
    if (name === undefined) return undefined;
    if (!held.has(name)) return notFound;
    if (request.method === 'DELETE') held.delete(name);
    if (request.method === 'PATCH') held.set(name, (request.body as { value: unknown }).value);
    if (request.method !== 'GET') return { status: 204, text: '' };
    return {
      status: 200,
      text: JSON.stringify({ ...JSON.parse(recorded('variable.claim.json')), name, value: held.get(name) }),
    };
  };
}

/** A PrefectApi answering from a table; a route not in it gets `fallback` (404 unless told). */
export function createFakeApi(
  routes: FakeRoutes,
  options: { fallback?: FakeResponse; baseUrl?: string } = {},
): FakeApi {
  const baseUrl = options.baseUrl ?? FAKE_API_URL;
  const requests: ApiRequest[] = [];
  const served = new Map<string, number>();
  const variables = variableStore();
  const answerFor = (request: ApiRequest): FakeResponse => {
    const key = `${request.method} ${request.path}`;
    const route = routes[key];
    if (route === undefined) return variables(request) ?? options.fallback ?? NOT_FOUND;
    if (typeof route === 'function') return route(request);
    if (!Array.isArray(route)) return route as FakeResponse;
    const n = served.get(key) ?? 0;
    served.set(key, n + 1);
    const answer = route[Math.min(n, route.length - 1)];
    if (!answer) throw new Error(`fake api: route ${key} has an empty list of answers`);
    return answer;
  };
  return {
    baseUrl,
    requests,
    async request(request: ApiRequest): Promise<ApiResponse> {
      requests.push(request);
      const answer = answerFor(request);
      return {
        request,
        url: `${baseUrl}${request.path}`,
        status: answer.status,
        text: answer.text,
        startedAt: '2026-11-26T01:20:00.000Z',
        durationMs: 0,
        ...(answer.networkError === undefined ? {} : { networkError: answer.networkError }),
      };
    },
  };
}
