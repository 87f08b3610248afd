/** What the server records of a worker's heartbeats (the fields of `POST /work_pools/{name}/workers/filter`). */
export interface WorkerHeartbeat {
  last_heartbeat_time?: string | null;
  heartbeat_interval_seconds?: unknown;
  status?: string | null;
}

/**
 * A worker is live when it has sent a heartbeat within three of its own intervals. The one rule for
 * doctor's `work_pool.ready` and for `sandbox up`, so a sandbox that is up passes preflight.
 */
export function isLive(worker: WorkerHeartbeat, now: Date): boolean {
  if (!worker.last_heartbeat_time) return false;
  const interval = typeof worker.heartbeat_interval_seconds === 'number' ? worker.heartbeat_interval_seconds : 30;
  return now.getTime() - Date.parse(worker.last_heartbeat_time) <= interval * 3 * 1000 && worker.status !== 'OFFLINE';
}
