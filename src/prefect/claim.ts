import os from 'node:os';
import { z } from 'zod';
import { RehearseError } from '../errors.js';
import { isAlive } from '../process/daemon.js';
import { expectJson, type PrefectApi } from './api.js';

/**
 * One rehearsal of a deployment at a time, claimed on the server itself: a Prefect variable whose
 * creation the server refuses (409) while it exists, so two machines starting at the same moment cannot
 * both hold it. Runs of two rehearsals side by side would share the deployment's limits and be counted
 * in each other's peak; the claim makes that impossible instead of explaining it afterwards.
 */

/** A claim counts this long after its holder last renewed it; the holder renews it well within. */
export const CLAIM_TTL_MS = 300_000;
const RENEW_EVERY_MS = 30_000;

const ClaimValueSchema = z.object({
  bundle: z.string(),
  host: z.string(),
  pid: z.number().int(),
  claimedAt: z.string(),
  renewedAt: z.string(),
});
type ClaimValue = z.infer<typeof ClaimValueSchema>;

const VariableSchema = z.object({ value: z.unknown() });

/** Variable names allow lowercase letters, digits, dashes and underscores: a deployment id fits as it is. */
export const claimName = (deploymentId: string): string => `rehearse-claim-${deploymentId.toLowerCase()}`;

/**
 * Why a claim found on the server no longer counts, or undefined while it does: not renewed within its
 * time to live, or held by a process of this host that is gone. A value of another shape is not ours.
 */
export function staleReason(value: unknown, nowMs: number, host = os.hostname()): string | undefined {
  const parsed = ClaimValueSchema.safeParse(value);
  if (!parsed.success) return 'it is not a claim rehearse wrote';
  const claim = parsed.data;
  const age = nowMs - Date.parse(claim.renewedAt);
  if (!(age < CLAIM_TTL_MS)) return `its holder last renewed it ${Math.round(age / 1000)} s ago`;
  if (claim.host === host && !isAlive(claim.pid)) return `its holder (pid ${claim.pid}) is no longer running`;
  return undefined;
}

export interface DeploymentClaim {
  /** Renews the claim when it is due, in the background; cheap to call on every poll. */
  renew(): void;
  /** Gives the claim back, if it is still this rehearsal's. */
  release(): Promise<void>;
}

interface ClaimOptions {
  deploymentId: string;
  deploymentName: string;
  bundle: string;
  now: () => number;
  signal?: AbortSignal;
}

const describeHolder = (value: unknown): string => {
  const parsed = ClaimValueSchema.safeParse(value);
  if (!parsed.success) return 'another holder';
  const { bundle, host, pid, claimedAt } = parsed.data;
  return `the rehearsal of bundle ${bundle} on ${host} (pid ${pid}), since ${claimedAt}`;
};

async function readClaim(api: PrefectApi, name: string, signal?: AbortSignal): Promise<unknown | undefined> {
  const response = await api.request(
    { method: 'GET', path: `/variables/name/${name}`, readOnly: true },
    signal ? { signal } : {},
  );
  if (response.status === 404) return undefined;
  return VariableSchema.parse(expectJson(response, `reading the rehearsal claim ${name}`)).value;
}

/** 'created', 'taken' (409: it exists), or 'unsupported' (a server with no variables to hold a claim). */
async function tryCreate(
  api: PrefectApi,
  name: string,
  value: ClaimValue,
  signal?: AbortSignal,
): Promise<'created' | 'taken' | 'unsupported'> {
  const body = { name, value, tags: ['rehearse'] };
  // Resent after a 503 that had in fact created it, it meets a 409 and then finds itself: see isMine.
  const response = await api.request(
    { method: 'POST', path: '/variables/', body, readOnly: false, retrySafe: true },
    signal ? { signal } : {},
  );
  if (response.status === 409) return 'taken';
  if (response.status === 404 || response.status === 405) return 'unsupported';
  expectJson(response, `claiming the deployment (variable ${name})`);
  return 'created';
}

const deleteClaim = (api: PrefectApi, name: string, signal?: AbortSignal) =>
  api.request(
    { method: 'DELETE', path: `/variables/name/${name}`, readOnly: false, retrySafe: true },
    signal ? { signal } : {},
  );

/** The claim this process wrote: a create resent after the server made it finds it so. */
const isMine = (held: unknown, mine: ClaimValue): boolean => {
  const parsed = ClaimValueSchema.safeParse(held);
  return (
    parsed.success &&
    parsed.data.bundle === mine.bundle &&
    parsed.data.pid === mine.pid &&
    parsed.data.host === mine.host &&
    parsed.data.claimedAt === mine.claimedAt
  );
};

/**
 * Claims the deployment for this rehearsal, or refuses (exit 3, busy) naming who holds it. A stale
 * claim is taken over: deleted, then created anew, so a second taker meets a 409 like any other.
 */
export async function claimDeployment(api: PrefectApi, options: ClaimOptions): Promise<DeploymentClaim | undefined> {
  const name = claimName(options.deploymentId);
  const claimedAt = new Date(options.now()).toISOString();
  const stamp = (): ClaimValue => {
    const renewedAt = new Date(options.now()).toISOString();
    return { bundle: options.bundle, host: os.hostname(), pid: process.pid, claimedAt, renewedAt };
  };
  const mine = stamp();
  let tookOver = false;
  for (let attempt = 0; attempt < 5; attempt += 1) {
    const created = await tryCreate(api, name, mine, options.signal);
    if (created === 'unsupported') return undefined;
    if (created === 'created') return holdClaim(api, name, options, stamp);
    const held = await readClaim(api, name, options.signal);
    if (held === undefined) continue; // given back between our two calls
    if (isMine(held, mine)) return holdClaim(api, name, options, stamp);
    if (!staleReason(held, options.now()) || tookOver) throw claimedBy(held, options.deploymentName);
    tookOver = true;
    await deleteClaim(api, name, options.signal);
  }
  throw new RehearseError('API_ERROR', `the claim on ${options.deploymentName} kept changing hands`, {
    hint: 'another rehearsal is starting at the same moment: wait for it, then rerun',
  });
}

/**
 * Refuses (exit 3, busy) when another rehearsal holds the deployment now: its claim is there and not stale. The
 * doctor asks before it would call that rehearsal's live runs leftovers to clean up.
 */
export async function refuseIfClaimed(
  api: PrefectApi,
  deployment: { id: string; name: string },
  nowMs: number,
  signal?: AbortSignal,
): Promise<void> {
  const held = await readClaim(api, claimName(deployment.id), signal);
  if (held !== undefined && !staleReason(held, nowMs)) throw claimedBy(held, deployment.name);
}

function claimedBy(held: unknown, deploymentName: string): RehearseError {
  return new RehearseError('DEPLOYMENT_CLAIMED', `another rehearsal holds ${deploymentName}`, {
    details: [
      `held by ${describeHolder(held)}`,
      "two rehearsals at once would share the deployment's limits and count each other's runs",
    ],
    hint:
      'wait for it to finish; if it died, `rehearse cleanup --bundle <evidence root>/<its bundle>` ends its runs ' +
      `and gives the claim back (it also lapses ${CLAIM_TTL_MS / 60_000} min after its last renewal)`,
  });
}

/** The claim while this rehearsal holds it: renewed on the watch's polls, given back once. */
function holdClaim(api: PrefectApi, name: string, options: ClaimOptions, stamp: () => ClaimValue): DeploymentClaim {
  let renewedAt = options.now();
  let renewing: Promise<unknown> = Promise.resolve();
  return {
    renew() {
      if (options.now() - renewedAt < RENEW_EVERY_MS) return;
      renewedAt = options.now();
      const body = { value: stamp() };
      const patch = {
        method: 'PATCH',
        path: `/variables/name/${name}`,
        body,
        readOnly: false,
        retrySafe: true,
      } as const;
      // A renewal that fails is retried at the next poll; the claim outlives many missed ones.
      renewing = api.request(patch).catch(() => {
        renewedAt = 0;
      });
    },
    // Never throws: it runs as the step ends, also after a failure whose own error is the one to report;
    // a claim it cannot give back lapses by itself.
    async release() {
      try {
        await renewing;
        const parsed = ClaimValueSchema.safeParse(await readClaim(api, name));
        if (parsed.success && parsed.data.bundle === options.bundle && parsed.data.pid === process.pid)
          await deleteClaim(api, name);
      } catch {}
    },
  };
}

/**
 * cleanup: gives back the claim of `bundle` (any rehearsal's with undefined), whoever's process held it;
 * the holder's bundle when there was one to give back. A dry run only reads it.
 */
export async function releaseClaimOf(
  api: PrefectApi,
  deploymentId: string,
  bundle: string | undefined,
  dryRun = false,
): Promise<string | undefined> {
  const name = claimName(deploymentId);
  const held = await readClaim(api, name);
  if (held === undefined) return undefined;
  const parsed = ClaimValueSchema.safeParse(held);
  const holder = parsed.success ? parsed.data.bundle : undefined;
  if (bundle !== undefined && holder !== bundle) return undefined;
  if (!dryRun) await deleteClaim(api, name);
  return holder ?? name;
}
