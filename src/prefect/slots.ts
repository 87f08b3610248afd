import { z } from 'zod';
import type { PrefectApi } from './api.js';
import { INVALID_LIMIT_NAME } from './fixes.js';
import { readGlobalLimit } from './queries.js';
import type { Deployment } from './schemas.js';

/** Active slots of one global concurrency limit at one moment. */
export interface HeldSlots {
  limit: string;
  activeSlots: number;
}

/**
 * The limits a deployment's runs take slots of: its own (`deployment:<id>`) and the global limits their
 * concurrency key names (a name Prefect refuses to create is no limit: nothing can hold its slots).
 */
export function slotLimitNames(deployment: Deployment, keys: readonly unknown[]): string[] {
  const named = keys.filter((k): k is string => typeof k === 'string' && k !== '' && !INVALID_LIMIT_NAME.test(k));
  const own = deployment.global_concurrency_limit?.name;
  return [...new Set([...(own ? [own] : []), ...named])];
}

/**
 * `prefect gcl update NAME --active-slots 0`, through the API: gives back slots a run killed with its
 * server or worker never returned. The HTTP status it answered.
 */
export async function resetActiveSlots(api: PrefectApi, limitId: string): Promise<number> {
  const path = `/v2/concurrency_limits/${limitId}`;
  const response = await api.request({ method: 'PATCH', path, body: { active_slots: 0 }, readOnly: false });
  return response.status;
}

/** Active slots of each named limit that exists, in the order named. */
export async function readHeldSlots(api: PrefectApi, names: readonly string[]): Promise<HeldSlots[]> {
  const limits = await Promise.all(names.map((name) => readGlobalLimit(api, name)));
  return limits.flatMap((limit, i) => (limit ? [{ limit: names[i] as string, activeSlots: limit.active_slots }] : []));
}

const SettingsSchema = z.looseObject({
  server: z.looseObject({
    concurrency: z.looseObject({ initial_deployment_lease_duration: z.number().positive() }).optional(),
  }),
});

/**
 * The server's deployment lease duration in seconds: a slot whose holder died comes back when its lease
 * expires. Undefined when the server does not say (an older Prefect, or settings it does not expose).
 */
export async function readLeaseSeconds(api: PrefectApi): Promise<number | undefined> {
  const response = await api.request({ method: 'GET', path: '/admin/settings', readOnly: true });
  if (response.status !== 200) return undefined;
  try {
    return SettingsSchema.parse(JSON.parse(response.text)).server.concurrency?.initial_deployment_lease_duration;
  } catch {
    return undefined;
  }
}
