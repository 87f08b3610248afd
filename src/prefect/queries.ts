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

/** Accepts `flow/deployment` or the runbook's bare deployment name, which it looks up. */
export async function resolveDeploymentName(api: PrefectApi, name: string): Promise<DeploymentRef> {
  const slash = name.indexOf('/');
  if (slash > 0) return { flow: name.slice(0, slash), deployment: name.slice(slash + 1) };
  const deployments = (body: unknown, doing: string) =>
    postFilter(api, { path: '/deployments/filter', body, doing, what: 'deployments' }, DeploymentSchema);
  const found = await deployments(
    { deployments: { name: { any_: [name] } }, limit: 50 },
    `looking up deployment ${name}`,
  );
  if (found.length === 0) {
    const all = await deployments({ limit: 20 }, 'listing deployments');
    throw new RehearseError('NOT_FOUND', `no deployment named '${name}' on this server`, {
      details: all.length
        ? [`deployments here: ${all.map((d) => d.name).join(', ')}`]
        : ['this server has no deployments'],
      hint: 'set --deployment (or "deployment" in rehearse.config) to one of them, as flow/deployment',
    });
  }
  const flowIds = found.map((d) => d.flow_id);
  const flows = await postFilter(
    api,
    { path: '/flows/filter', body: { flows: { id: { any_: flowIds } } }, doing: 'looking up flows', what: 'flows' },
    FlowSchema,
  );
  const refs = found.map((d) => ({
    flow: flows.find((f) => f.id === d.flow_id)?.name ?? d.flow_id,
    deployment: d.name,
  }));
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
    throw new RehearseError('NOT_FOUND', `deployment ${fullName(ref)} does not exist on ${api.baseUrl}`, {
      hint: 'check the name (flow/deployment), or deploy it first',
    });
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

export async function checkHealth(api: PrefectApi): Promise<{ ok: boolean; detail: string }> {
  const response = await api.request({ method: 'GET', path: '/health', readOnly: true });
  if (response.status === 0) return { ok: false, detail: response.networkError ?? 'no answer' };
  return {
    ok: response.status === 200 && response.text.trim() === 'true',
    detail: `HTTP ${response.status} ${response.text.slice(0, 80)}`,
  };
}

export async function readServerVersion(api: PrefectApi): Promise<string | undefined> {
  const response = await api.request({ method: 'GET', path: '/admin/version', readOnly: true });
  if (response.status !== 200) return undefined;
  const value = JSON.parse(response.text) as unknown;
  return typeof value === 'string' ? value : undefined;
}
