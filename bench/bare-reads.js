// @ts-check
// The yardstick for row 4: the reads `rehearse validate --all-runs` makes, done by a bare client with plain
// fetch and nothing else (no config, checks, evidence or reporting), in its own node process as rehearse runs:
//   node bench/bare-reads.js <apiUrl> <deploymentId> <since ISO> <concurrency>
// Lists the deployment's runs (pages of 200), reads each run's state history (<concurrency> at a time), reads
// the concurrency-limit events since <since> (pages of 50), and prints one JSON line.
import { performance } from 'node:perf_hooks';

const [apiUrl, deploymentId, since, concurrencyArg] = process.argv.slice(2);
const concurrency = Number(concurrencyArg);
if (!apiUrl || !deploymentId || !since || !Number.isInteger(concurrency) || concurrency < 1) {
  process.stderr.write('usage: node bench/bare-reads.js <apiUrl> <deploymentId> <since> <concurrency>\n');
  process.exit(2);
}

let requests = 0;
/**
 * @param {'GET' | 'POST'} method
 * @param {string} route
 * @param {unknown} [body]
 * @returns {Promise<unknown>} the JSON answer
 */
async function call(method, route, body) {
  requests += 1;
  const url = route.startsWith('http') ? route : `${apiUrl}${route}`;
  const response = await fetch(url, {
    method,
    headers: { 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    signal: AbortSignal.timeout(60_000),
  });
  if (!response.ok) throw new Error(`${method} ${route}: ${response.status}`);
  return response.json();
}

const started = performance.now();
/** @type {string[]} */
const ids = [];
for (let offset = 0; ; offset += 200) {
  const page = /** @type {{ id: string }[]} the runs of the page */ (
    await call('POST', '/flow_runs/filter', {
      flow_runs: { deployment_id: { any_: [deploymentId] } },
      sort: 'START_TIME_ASC',
      limit: 200,
      offset,
    })
  );
  ids.push(...page.map((run) => run.id));
  if (page.length < 200) break;
}
let next = 0;
let states = 0;
await Promise.all(
  Array.from({ length: Math.min(concurrency, ids.length) }, async () => {
    while (next < ids.length) {
      const id = ids[next++];
      states += /** @type {unknown[]} the run's states */ (await call('GET', `/flow_run_states/?flow_run_id=${id}`))
        .length;
    }
  }),
);
let events = 0;
/** @typedef {{ events: unknown[], next_page: string | null }} EventPage */
let page = /** @type {EventPage} */ (
  await call('POST', '/events/filter', {
    filter: {
      event: { name: ['prefect.concurrency-limit.acquired', 'prefect.concurrency-limit.released'] },
      occurred: { since },
      order: 'ASC',
    },
    limit: 50,
  })
);
for (;;) {
  events += page.events.length;
  if (!page.next_page) break;
  page = /** @type {EventPage} */ (await call('GET', page.next_page));
}
process.stdout.write(
  `${JSON.stringify({ ms: performance.now() - started, runs: ids.length, states, events, requests, concurrency })}\n`,
);
