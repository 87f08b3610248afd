// The bench's REST calls to the sandbox's API (its own retries), and the finished runs it writes.
/** Requests the bench retried: SQLite under concurrent writes answers 503 ("database is locked") now and then. */
export const apiRetries = { count: 0, statuses: {} };

/** A tiny REST client for the sandbox's API (fetch keeps connections alive), retrying 429/502/503 and network errors. */
export async function api(apiUrl, method, route, body) {
  for (let attempt = 0; ; attempt += 1) {
    let response;
    try {
      response = await fetch(`${apiUrl}${route}`, {
        method,
        headers: { 'content-type': 'application/json' },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(60_000),
      });
    } catch (error) {
      if (attempt >= 8) throw new Error(`${method} ${route}: ${error.message}`);
      apiRetries.count += 1;
      apiRetries.statuses.network = (apiRetries.statuses.network ?? 0) + 1;
      await new Promise((resolve) => setTimeout(resolve, Math.min(3000, 200 * 2 ** attempt) * (0.5 + Math.random())));
      continue;
    }
    const text = await response.text();
    if ([429, 502, 503].includes(response.status) && attempt < 8) {
      apiRetries.count += 1;
      apiRetries.statuses[response.status] = (apiRetries.statuses[response.status] ?? 0) + 1;
      await new Promise((resolve) => setTimeout(resolve, Math.min(3000, 200 * 2 ** attempt) * (0.5 + Math.random())));
      continue;
    }
    if (!response.ok) throw new Error(`${method} ${route}: ${response.status} ${text.slice(0, 300)}`);
    return text ? JSON.parse(text) : undefined;
  }
}

/**
 * A finished run's history, written through the API without running anything: created Scheduled
 * far in the future (so the sandbox's worker never picks it up), then forced Pending, Running, Completed.
 */
export async function createHistory(apiUrl, deployment, name) {
  const scheduled = new Date(Date.now() + 365 * 24 * 3600 * 1000).toISOString();
  const run = await api(apiUrl, 'POST', '/flow_runs/', {
    flow_id: deployment.flow_id,
    deployment_id: deployment.id,
    name,
    // A retried creation returns the run the first attempt may have made instead of a second one.
    idempotency_key: name,
    tags: ['rehearse-bench'],
    state: { type: 'SCHEDULED', name: 'Scheduled', state_details: { scheduled_time: scheduled } },
  });
  for (const type of ['PENDING', 'RUNNING', 'COMPLETED']) {
    await api(apiUrl, 'POST', `/flow_runs/${run.id}/set_state`, { state: { type }, force: true });
  }
  return run.id;
}
