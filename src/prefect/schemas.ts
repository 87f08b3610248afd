import { z } from 'zod';

/** What Prefect 3 returns, as far as rehearse relies on it; everything else passes through untouched. */

export const GlobalConcurrencyLimitSchema = z
  .object({
    id: z.string(),
    name: z.string(),
    active: z.boolean(),
    limit: z.number().int(),
    active_slots: z.number().int(),
    slot_decay_per_second: z.number().nullish(),
  })
  .passthrough();
export type GlobalConcurrencyLimit = z.infer<typeof GlobalConcurrencyLimitSchema>;

const CollisionStrategySchema = z.enum(['ENQUEUE', 'CANCEL_NEW']);

export const DeploymentSchema = z
  .object({
    id: z.string(),
    name: z.string(),
    flow_id: z.string(),
    concurrency_limit: z.number().int().nullish(),
    global_concurrency_limit: GlobalConcurrencyLimitSchema.nullish(),
    concurrency_options: z.object({ collision_strategy: CollisionStrategySchema }).passthrough().nullish(),
    paused: z.boolean().nullish(),
    schedules: z.array(z.object({ active: z.boolean() }).passthrough()).default([]),
    parameters: z.record(z.string(), z.unknown()).default({}),
    parameter_openapi_schema: z
      .object({ properties: z.record(z.string(), z.unknown()).default({}) })
      .passthrough()
      .nullish(),
    work_pool_name: z.string().nullish(),
    work_queue_name: z.string().nullish(),
  })
  .passthrough();
export type Deployment = z.infer<typeof DeploymentSchema>;

export const FlowSchema = z.object({ id: z.string(), name: z.string() }).passthrough();

/** The state types a flow run never leaves. */
export const TERMINAL = new Set(['COMPLETED', 'FAILED', 'CANCELLED', 'CRASHED']);

/** A run's last state by time (not by the timestamp's text, which an offset or a fraction can misorder). */
export function lastState<T extends { timestamp: string }>(states: readonly T[]): T | undefined {
  return [...states].sort((a, b) => Date.parse(a.timestamp) - Date.parse(b.timestamp)).at(-1);
}

export const WorkPoolSchema = z
  .object({
    id: z.string(),
    name: z.string(),
    type: z.string(),
    is_paused: z.boolean(),
    concurrency_limit: z.number().int().nullish(),
    status: z.string().nullish(),
  })
  .passthrough();
export type WorkPool = z.infer<typeof WorkPoolSchema>;

export const WorkerSchema = z
  .object({ name: z.string(), last_heartbeat_time: z.string().nullish(), status: z.string().nullish() })
  .passthrough();

export const StateSchema = z
  .object({
    id: z.string().optional(),
    type: z.string(),
    name: z.string().nullish(),
    timestamp: z.string(),
    message: z.string().nullish(),
  })
  .passthrough();
export type State = z.infer<typeof StateSchema>;

export const FlowRunSchema = z
  .object({
    id: z.string(),
    name: z.string(),
    deployment_id: z.string().nullish(),
    state_type: z.string().nullish(),
    state_name: z.string().nullish(),
    state: StateSchema.nullish(),
    start_time: z.string().nullish(),
    end_time: z.string().nullish(),
    parameters: z.record(z.string(), z.unknown()).default({}),
    work_queue_name: z.string().nullish(),
    tags: z.array(z.string()).default([]),
  })
  .passthrough();
export type FlowRun = z.infer<typeof FlowRunSchema>;
