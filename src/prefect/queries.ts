import { z } from 'zod';
import { RehearseError } from '../errors.js';
import { expectJson, type PrefectApi } from './api.js';
import {
  type Deployment,
  DeploymentSchema,
  FlowSchema,
  type GlobalConcurrencyLimit,
  GlobalConcurrencyLimitSchema,
  WorkerSchema,
  type WorkPool,
  WorkPoolSchema,
} from './schemas.js';

/** One small function per question asked of the Prefect API; each fails with what to do. */

export interface DeploymentRef {
  flow: string;
  deployment: string;
}

export const fullName = (ref: DeploymentRef): string => `${ref.flow}/${ref.deployment}`;
const enc = encodeURIComponent;

function parseWith<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    throw new RehearseError('UNEXPECTED_OUTPUT', `Prefect returned ${what} in a shape rehearse does not know`, {
      details: parsed.error.issues.slice(0, 5).map((i) => `${i.path.join('.')}: ${i.message}`),
      hint: 'check that the Prefect server is version 3.x',
    });
  }
  return parsed.data;
}

/** A read-only POST of a filter, its answer parsed as a list of `what` (`doing` says when, for the error). */
async function postFilter<T>(
  api: PrefectApi,
  query: { path: string; body: unknown; doing: string; what: string },
  item: z.ZodType<T>,
): Promise<T[]> {
  const response = await api.request({ method: 'POST', path: query.path, body: query.body, readOnly: true });
  return parseWith(z.array(item), expectJson(response, query.doing), query.what);
}

const LISTED = 20;

/** The deployments on the server as `flow/deployment`, for an error that asks for one of them. */
async function listDeploymentNames(api: PrefectApi): Promise<{ names: string[]; more: boolean }> {
  const all = await postFilter(
    api,
    { path: '/deployments/filter', body: { limit: LISTED + 1 }, doing: 'listing deployments', what: 'deployments' },
    DeploymentSchema,
  );
  const shown = all.slice(0, LISTED);
  const flows = await flowNames(api, shown);
  return { names: shown.map((d) => `${flows.get(d.flow_id) ?? d.flow_id}/${d.name}`), more: all.length > LISTED };
}

async function flowNames(api: PrefectApi, deployments: Deployment[]): Promise<Map<string, string>> {
  if (deployments.length === 0) return new Map();
  const flows = await postFilter(
    api,
    {
      path: '/flows/filter',
      body: { flows: { id: { any_: [...new Set(deployments.map((d) => d.flow_id))] } } },
      doing: 'looking up flows',
      what: 'flows',
    },
    FlowSchema,
  );
  return new Map(flows.map((f) => [f.id, f.name]));
}

/** A deployment not found, with the ones the server has named where every reporter shows it: the hint. */
async function deploymentNotFound(api: PrefectApi, message: string): Promise<RehearseError> {
  const listed = await listDeploymentNames(api).catch(() => undefined);
  if (!listed)
    return new RehearseError('NOT_FOUND', message, { hint: 'check the name (flow/deployment), or deploy it first' });
  const { names, more } = listed;
  const hint = names.length
    ? `set --deployment (or "deployment" in rehearse.config) to one of the deployments on this server: ` +
      `${names.join(', ')}${more ? `, and more (\`prefect deployment ls\` lists them all)` : ''}`
    : `this server has no deployment at all: deploy it first, or point PREFECT_API_URL at the server that has it`;
  return new RehearseError('NOT_FOUND', message, { hint });
}

/** Accepts `flow/deployment` or the runbook's bare deployment name, which it looks up. */
export async function resolveDeploymentName(api: PrefectApi, name: string): Promise<DeploymentRef> {
  const slash = name.indexOf('/');
  if (slash > 0) return { flow: name.slice(0, slash), deployment: name.slice(slash + 1) };
  const found = await postFilter(
    api,
    {
      path: '/deployments/filter',
      body: { deployments: { name: { any_: [name] } }, limit: 50 },
      doing: `looking up deployment ${name}`,
      what: 'deployments',
    },
    DeploymentSchema,
  );
  if (found.length === 0) throw await deploymentNotFound(api, `no deployment named '${name}' on this server`);
  const flows = await flowNames(api, found);
  const refs = found.map((d) => ({ flow: flows.get(d.flow_id) ?? d.flow_id, deployment: d.name }));
  if (refs.length > 1) {
    throw new RehearseError('USAGE', `deployment name '${name}' is ambiguous`, {
      details: refs.map((r) => `  ${fullName(r)}`),
      hint: 'pass the full flow/deployment name',
    });
  }
  return refs[0] as DeploymentRef;
}

export interface DeploymentRecord {
  deployment: Deployment;
  /** The server's JSON exactly as sent. */
  raw: string;
}

export async function readDeployment(api: PrefectApi, ref: DeploymentRef): Promise<DeploymentRecord> {
  const response = await api.request({
    method: 'GET',
    path: `/deployments/name/${enc(ref.flow)}/${enc(ref.deployment)}`,
    readOnly: true,
  });
  if (response.status === 404) {
    throw await deploymentNotFound(api, `deployment ${fullName(ref)} does not exist on ${api.baseUrl}`);
  }
  const value = expectJson(response, `reading deployment ${fullName(ref)}`);
  return { deployment: parseWith(DeploymentSchema, value, 'a deployment'), raw: response.text };
}

/** Global concurrency limit by name; undefined when it does not exist. */
export async function readGlobalLimit(api: PrefectApi, name: string): Promise<GlobalConcurrencyLimit | undefined> {
  const response = await api.request({ method: 'GET', path: `/v2/concurrency_limits/${enc(name)}`, readOnly: true });
  if (response.status === 404) return undefined;
  return parseWith(
    GlobalConcurrencyLimitSchema,
    expectJson(response, `reading global concurrency limit ${name}`),
    'a global concurrency limit',
  );
}

export async function readWorkPool(
  api: PrefectApi,
  name: string,
): Promise<{ pool: WorkPool; raw: string } | undefined> {
  const response = await api.request({ method: 'GET', path: `/work_pools/${enc(name)}`, readOnly: true });
  if (response.status === 404) return undefined;
  return {
    pool: parseWith(WorkPoolSchema, expectJson(response, `reading work pool ${name}`), 'a work pool'),
    raw: response.text,
  };
}

export async function listWorkers(api: PrefectApi, pool: string): Promise<z.infer<typeof WorkerSchema>[]> {
  const path = `/work_pools/${enc(pool)}/workers/filter`;
  return postFilter(api, { path, body: {}, doing: `listing workers of ${pool}`, what: 'workers' }, WorkerSchema);
}

/** An answer's body for a one-line message: a proxy's HTML error page by its title, never its markup. */
function bodyForMessage(text: string): string {
  if (!/^\s*</.test(text)) return text.slice(0, 80);
  const title = /<title[^>]*>([^<]*)<\/title>/i.exec(text)?.[1]?.trim();
  return title ? `(an HTML page: ${title})` : '(an HTML page)';
}

export async function checkHealth(api: PrefectApi): Promise<{ ok: boolean; detail: string; status: number }> {
  const response = await api.request({ method: 'GET', path: '/health', readOnly: true });
  if (response.status === 0) return { ok: false, detail: response.networkError ?? 'no answer', status: 0 };
  return {
    ok: response.status === 200 && response.text.trim() === 'true',
    detail: `HTTP ${response.status} ${bodyForMessage(response.text)}`.trim(),
    status: response.status,
  };
}

/** GET /admin/version: its status (401 or 403 where our credentials are refused) and, on 200, the version. */
export async function askServerVersion(api: PrefectApi): Promise<{ status: number; version?: string }> {
  const response = await api.request({ method: 'GET', path: '/admin/version', readOnly: true });
  if (response.status !== 200) return { status: response.status };
  const value = JSON.parse(response.text) as unknown;
  return typeof value === 'string' ? { status: response.status, version: value } : { status: response.status };
}

export async function readServerVersion(api: PrefectApi): Promise<string | undefined> {
  return (await askServerVersion(api)).version;
}
