// @ts-check
// The bench's REST calls to the sandbox's API (rehearse's own client, plus the bench's retries), and the finished
// runs it writes.
import { createPrefectApi, expectJson } from '../../dist/prefect/api.js';
import { sleep } from '../../dist/util/sleep.js';

/** Requests the bench resent: SQLite under concurrent writes answers 503 ("database is locked") now and then. */
/** @type {{ count: number, statuses: Record<string, number> }} */
export const apiRetries = { count: 0, statuses: {} };

/** @param {number | string} status */
function countRetry(status) {
  apiRetries.count += 1;
  apiRetries.statuses[status] = (apiRetries.statuses[status] ?? 0) + 1;
}

/** @type {Map<string, ReturnType<typeof import('../../dist/prefect/api.js').createPrefectApi>>} */
const clients = new Map();

/** rehearse's client for one API URL; each wait before one of its 503 resends counts as a retry. */
/**
 * @param {string} apiUrl
 * @returns {ReturnType<typeof import('../../dist/prefect/api.js').createPrefectApi>}
 */
function clientFor(apiUrl) {
  let client = clients.get(apiUrl);
  if (!client) {
    /** @param {number} ms */
    const counted = (ms) => {
      countRetry(503);
      return sleep(ms);
    };
    client = createPrefectApi({ apiUrl, timeoutMs: 60_000, sleep: counted });
    clients.set(apiUrl, client);
  }
  return client;
}

/**
 * One request through rehearse's client (createPrefectApi), which resends a 503 up to five times for reads and for
 * writes marked safe to resend. The bench's own policy on top: while it writes thousands of runs, a server may also
 * reset a connection (status 0) or answer 429/502, which rehearse does not resend; the bench resends those three
 * times, with a growing wait. Every write the bench sends is safe to resend (an idempotency key, a forced state)
 * unless the caller says `retrySafe: false`. Returns the parsed JSON answer; throws on any other failure.
 * @param {string} apiUrl
 * @param {'GET' | 'POST' | 'PATCH' | 'DELETE'} method
 * @param {string} route
 * @param {unknown} [body]
 * @param {{ retrySafe?: boolean }} [options]
 * @returns {Promise<any>} the JSON answer, shaped as the route documents it
 */
export async function call(apiUrl, method, route, body, { retrySafe = true } = {}) {
  const readOnly = method === 'GET' || /\/(count|filter)$/.test(route);
  const request = { method, path: route, readOnly, retrySafe, ...(body === undefined ? {} : { body }) };
  for (let attempt = 0; ; attempt += 1) {
    const response = await clientFor(apiUrl).request(request);
    const transient = response.status === 0 || response.status === 429 || response.status === 502;
    if (!transient || attempt >= 3 || !(readOnly || retrySafe)) {
      // A PATCH answers 204 with no body.
      if (response.status === 204) return undefined;
      return expectJson(response, `${method} ${route}`);
    }
    countRetry(response.status === 0 ? 'network' : response.status);
    await sleep(500 * 2 ** attempt);
  }
}

/**
 * A finished run's history, written through the API without running anything: created Scheduled
 * far in the future (so the sandbox's worker never picks it up), then forced Pending, Running, Completed.
 * @param {string} apiUrl
 * @param {{ id: string, flow_id: string }} deployment
 * @param {string} name
 */
export async function createHistory(apiUrl, deployment, name) {
  const scheduled = new Date(Date.now() + 365 * 24 * 3600 * 1000).toISOString();
  const run = await call(apiUrl, 'POST', '/flow_runs/', {
    flow_id: deployment.flow_id,
    deployment_id: deployment.id,
    name,
    // A retried creation returns the run the first attempt may have made instead of a second one.
    idempotency_key: name,
    tags: ['rehearse-bench'],
    state: { type: 'SCHEDULED', name: 'Scheduled', state_details: { scheduled_time: scheduled } },
  });
  for (const type of ['PENDING', 'RUNNING', 'COMPLETED']) {
    await call(apiUrl, 'POST', `/flow_runs/${run.id}/set_state`, { state: { type }, force: true });
  }
  return run.id;
}
