import path from 'node:path';

/**
 * Names of the evidence files that both the steps writing them and the offline verify read.
 * Kept here, away from the steps, so verify needs nothing that talks to Prefect.
 */
export const DEPLOYMENT_FILE = 'deployment.json';
export const STATE_HISTORY_FILE = 'state-history.json';
/** When each run held slots of the global limit, from Prefect's acquired/released events (validate). */
export const SLOT_HISTORY_FILE = 'slot-history.json';
/** The work pool as validate read it: its concurrency limit is judged again from it. */
export const WORK_POOL_FILE = 'work-pool.json';
export const SCREENSHOT_FILE = 'hotpass-e2e-staging.png';
/** Where the inspect step keeps the manifest it judged against, so verify can judge again. */
export const MANIFEST_COPY_DIR = 'manifest';

/** The bundle path of the copy of a manifest (given as configured, relative to the project). */
export function manifestCopyOf(manifest: string): string {
  return `${MANIFEST_COPY_DIR}/${path.posix.basename(manifest.replaceAll('\\', '/'))}`;
}
/** Each injected fault, what it did and how the rehearsal recovered (run step; validate adds the slots). */
export const FAULTS_FILE = 'faults.json';
