import { z } from 'zod';

/**
 * faults.json's shape: the run step writes it, validate reads it back to add the slots and the rollback.
 * One schema, parsed where it is read, so a hand-edited file is refused with a message.
 */

/**
 * What a fault's action did: the API's answer to the cancel, the process killed, or the command's exit code and
 * output tail (masked). Each detail is there only for the kinds that have it; the duration always.
 */
const FaultActionSchema = z
  .object({
    apiStatus: z.number(),
    /** kill-flow: the flow run's process sent SIGKILL; kill-worker: the worker's. */
    killedPid: z.number(),
    /** restart-api, api-outage: the API server stopped (its pid) and when it began to stop. */
    stoppedPid: z.number(),
    stoppedAt: z.string(),
    /** restart-api, api-outage: when the restarted server answered /health again (absent: it never did). */
    backAt: z.string(),
    /** kill-worker: the worker started again, and how long it was down (seconds); the server's likewise, until /health answered. */
    restartedPid: z.number(),
    restartedAt: z.string(),
    downSeconds: z.number(),
    state: z.string(),
    forced: z.boolean(),
    exitCode: z.number().nullable(),
    timedOut: z.boolean(),
    outputTail: z.array(z.string()),
  })
  .partial()
  .extend({ durationMs: z.number() });

/** What one fault did: the evidence faults.json keeps, before validate adds the slots' recovery. */
const FaultRecordSchema = z.object({
  kind: z.enum(['cancel-run', 'kill-flow', 'kill-worker', 'restart-api', 'api-outage', 'command']),
  moment: z.enum(['first-running', 'limit-reached']),
  command: z.string().optional(),
  /** 'not-reached': the moment never came before every run was final, so nothing was injected. */
  status: z.enum(['injected', 'failed', 'not-reached']),
  target: z.object({ id: z.string(), name: z.string() }).optional(),
  /** kill-worker: the flow runs whose processes lived under the killed worker, touched by the fault with it. */
  touchedRuns: z.array(z.object({ id: z.string(), name: z.string() })).optional(),
  injectedAt: z.string().optional(),
  /** The concurrency key's slots held as the fault was injected at limit-reached: the guarded block was full. */
  slotsAtInjection: z.object({ limit: z.string(), active: z.number(), of: z.number() }).optional(),
  action: FaultActionSchema.optional(),
  recovery: z
    .object({
      /** The hit run's state once the runs were final, and seconds from the injection until the watch saw it final. */
      hitRunFinalState: z.string().optional(),
      secondsToFinal: z.number().optional(),
      /** Runs waiting (not yet RUNNING) when or after the fault hit: seconds until each was seen RUNNING. */
      queuedWaits: z.array(
        z.object({ run: z.string(), waitedSeconds: z.number().nullable(), endedAs: z.string().optional() }),
      ),
      /** kill-worker: how each run under the killed worker ended, with its final state's message. */
      touchedRunsEnded: z
        .array(z.object({ run: z.string(), state: z.string(), message: z.string().optional() }))
        .optional(),
    })
    .optional(),
  reason: z.string().optional(),
  /**
   * restart-api, api-outage: runs left waiting behind slots the restarted server forgot (their holders'
   * leases were in its memory), cancelled by rehearse once nothing had run for a grace: when, why, the key.
   */
  strandedRuns: z
    .object({
      at: z.string(),
      reason: z.string(),
      slots: z.object({ limit: z.string(), active: z.number(), of: z.number() }),
      runs: z.array(z.object({ id: z.string(), name: z.string(), from: z.string(), to: z.string() })),
    })
    .optional(),
});
export type FaultRecord = z.infer<typeof FaultRecordSchema>;

/** What the rollback gave back: runs cancelled, slots freed (cleanup's rows), when. */
const RollbackSchema = z.object({
  at: z.string(),
  runsCancelled: z.array(z.object({ id: z.string(), name: z.string(), from: z.string(), to: z.string() })),
  slots: z.array(z.object({ limit: z.string(), activeSlots: z.number(), action: z.string() })),
  /** Set while a later step still has to give back what is held (validate frees slots once judged). */
  pending: z.string().optional(),
});

/** faults.json: the faults, then what validate measured of the slots and what the rollback restored. */
export const FaultsFileSchema = z.object({
  faults: z.array(FaultRecordSchema),
  /**
   * validate's slots.released, and when it saw the slots back: `backWithinSeconds` after the first injection
   * (an upper bound when they were already back as it first looked: `validateWaitedSeconds` 0).
   */
  slotsReleased: z
    .object({
      verdict: z.string(),
      reason: z.string(),
      backWithinSeconds: z.number().optional(),
      validateWaitedSeconds: z.number(),
    })
    .optional(),
  rollback: RollbackSchema,
  /** Settings of the sandbox that shape how a fault plays out (the key's lease, the repossessor's pace). */
  settings: z.record(z.string(), z.string()).optional(),
});
export type FaultsFile = z.infer<typeof FaultsFileSchema>;
