import path from 'node:path';
import fs from 'fs-extra';
import { type Bundle, writeEvidence } from '../../bundle/bundle.js';
import type { Context } from '../../context.js';
import { RehearseError } from '../../errors.js';
import type { DeploymentRef } from '../../prefect/queries.js';
import { createFlowRun } from '../../prefect/runs.js';
import type { Deployment, FlowRun } from '../../prefect/schemas.js';

/** Every flow run the rehearsal made, one line each, appended the moment the server returns it. */
export const CREATED_RUNS_FILE = 'created-runs.txt';
/** A pause between creations: a SQLite-backed server answers a rush of writes with 503s. */
const CREATE_GAP_MS = 100;

/** What the run step settled on before anything is created. */
export interface RunPlan {
  ref: DeploymentRef;
  deployment: Deployment;
  parameters: Record<string, unknown>;
  burst: number;
  strictest: number | undefined;
  /** `rehearse` and `rehearse-<bundle>`: the second finds this rehearsal's runs on the server. */
  tags: string[];
  tag: string;
  workQueue: string | undefined;
  startedAt: string;
  /** Unique to this attempt, so a resent creation returns its run and a rerun on the bundle makes new ones. */
  keyPrefix: string;
}

/** The concurrency key the runs take slots of: the rehearsal's own parameter, else the deployment's default. */
export const runKeyOf = (plan: Pick<RunPlan, 'parameters' | 'deployment'>): unknown =>
  plan.parameters.concurrency_key ?? plan.deployment.parameters.concurrency_key;

export interface RunLedger {
  readonly ids: readonly string[];
  has(id: string): boolean;
  add(run: Pick<FlowRun, 'id' | 'name'> & { name?: string }, how: string): Promise<void>;
}

/** Refuse, before anything is created, a burst larger than the configured maximum. */
export function checkBurst(burst: number, maxBurst: number): void {
  if (burst <= maxBurst) return;
  throw new RehearseError('USAGE', `a burst of ${burst} runs is above the maximum of ${maxBurst}`, {
    details: [
      'one run more than the strictest limit is enough to exercise a guardrail;',
      'hundreds of runs only load the server (a SQLite one answers 503) and leave runs to clean up',
    ],
    hint: `use --burst ${maxBurst} or less, or raise run.maxBurst in rehearse.config`,
  });
}

/**
 * The list of created runs, on disk as well as in memory: a kill after a creation still leaves
 * its id in the bundle.
 */
export async function openRunLedger(bundle: Bundle, plan: RunPlan, now: Date): Promise<RunLedger> {
  const ids: string[] = [];
  const file = path.join(bundle.dir, CREATED_RUNS_FILE);
  const header = `# flow runs created by the run step started ${plan.startedAt} (tag ${plan.tag}), as created\n`;
  await writeEvidence(bundle, CREATED_RUNS_FILE, header, now);
  return {
    ids,
    has: (id) => ids.includes(id),
    async add(run, how) {
      if (ids.includes(run.id)) return;
      ids.push(run.id);
      await fs.appendFile(file, bundle.redact(`${new Date().toISOString()} ${run.id} ${run.name ?? ''} ${how}\n`));
    },
  };
}

/** A dry run's ledger: its creations are only printed, so it lists none and writes nothing. */
export function plannedLedger(): RunLedger {
  return { ids: [], has: () => false, add: async () => undefined };
}

/**
 * The runs created through the API: all of them with a work queue (the CLI has none), otherwise
 * all but the one the CLI creates and watches. One at a time, a short gap apart, each with a key.
 */
export async function createBurst(ctx: Context, plan: RunPlan, ledger: RunLedger): Promise<FlowRun[]> {
  const count = plan.workQueue ? plan.burst : plan.burst - 1;
  const created: FlowRun[] = [];
  for (let i = 0; i < count && !ctx.signal.aborted; i += 1) {
    if (i > 0) await ctx.clock.sleep(CREATE_GAP_MS, ctx.signal);
    const body = {
      parameters: plan.parameters,
      tags: plan.tags,
      idempotency_key: `${plan.keyPrefix}-${i}`,
      ...(plan.workQueue ? { work_queue_name: plan.workQueue } : {}),
    };
    const run = await createFlowRun(ctx.api, plan.deployment.id, body);
    if (!run) continue; // a dry run
    created.push(run);
    await ledger.add(run, 'api');
  }
  return created;
}

/** The burst's API runs, as the run step makes them: before the CLI's own run, or once it exists. */
export interface BurstMaker {
  /** The runs made before the watch starts (none when they wait for the CLI's run). */
  first(): Promise<FlowRun[]>;
  /** Each poll's primary run: once the CLI's own run exists, a deferred burst is made. */
  onPrimary(primaryId: string | undefined): void;
  /** Whether a deferred burst is still to be made: the watch must not end before it is. */
  pending(): boolean;
  /** Waits for a deferred burst; throws what its creation threw. */
  settled(): Promise<void>;
}

/**
 * The API's runs are made before the CLI runs, so a refused creation triggers nothing more. In a rehearsal
 * that stops the server (restart-api, api-outage) they wait for the CLI's own run instead: the server is only
 * stopped once that run exists (a CLI cut off while making it fails), and a CLI slower to start than the
 * burst's runs are to finish would otherwise leave no moment with the key held and the CLI's run there.
 */
export function burstMaker(ctx: Context, plan: RunPlan, ledger: RunLedger, afterCli: boolean): BurstMaker {
  const deferred = afterCli && !plan.workQueue;
  let made: Promise<FlowRun[]> | undefined;
  let done = !deferred;
  return {
    first: () => (deferred ? Promise.resolve([]) : createBurst(ctx, plan, ledger)),
    onPrimary(primaryId) {
      if (done || made || !primaryId) return;
      made = createBurst(ctx, plan, ledger).finally(() => {
        done = true;
      });
      made.catch(() => undefined);
    },
    pending: () => !done,
    async settled() {
      await made;
    },
  };
}
