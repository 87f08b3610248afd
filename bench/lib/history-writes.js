// @ts-check
// Row 13's history: finished runs written through the sandbox's API as row 7 writes them, through extra API
// processes without services on the sandbox's PostgreSQL database; copies of them made inside the database to grow
// it further; and the planner's statistics refreshed after.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { startApiProcess } from './api-processes.js';
import { log } from './measured.js';
import { call } from './prefect.js';

/** Requests the bench resent, by status: the bench's REST client (lib/prefect.js) counts them. */
export { apiRetries as resent, call } from './prefect.js';

/**
 * `n` Prefect API processes without services on the sandbox's PostgreSQL database (a staging API scaled out behind
 * a load balancer), as row 7 starts them.
 * @param {{ projectDir: string, cleanup: string[] }} sandbox
 * @param {{ postgres?: { port: number, password: string } }} state
 * @param {number} n
 */
export async function startApiProcesses(sandbox, state, n) {
  /** @type {{ apiUrl: string, stop: () => void }[]} */
  const started = [];
  const stop = async () => {
    for (const p of started) p.stop();
  };
  try {
    for (let i = 0; i < n; i += 1) started.push(await startApiProcess(sandbox, state));
  } catch (error) {
    await stop();
    throw error;
  }
  return { urls: started.map((p) => p.apiUrl), stop };
}

/** Tags of every history run; every 10th also looks like an earlier rehearsal's (cleanup --all must skip it). */
const HISTORY_TAG = 'rehearse-bench-history';

/**
 * A finished run in 2 requests: created Running (the creation is forced, and Prefect's SetStartTime rule stamps
 * start_time, which validate's read of other runs filters on), then forced Completed (1 in 20 Failed) for end_time.
 * Forced transitions take and release no concurrency slot.
 * @param {string} apiUrl
 * @param {{id: string, flow_id: string}} deployment
 * @param {number} i
 */
export async function createFinishedRun(apiUrl, deployment, i) {
  const name = `bench-history-${String(i).padStart(6, '0')}`;
  const tags = ['hotpass', 'backfill', HISTORY_TAG, ...(i % 10 === 0 ? ['rehearse', `rehearse-old-${i}`] : [])];
  const run = await call(apiUrl, 'POST', '/flow_runs/', {
    flow_id: deployment.flow_id,
    deployment_id: deployment.id,
    name,
    idempotency_key: name,
    tags,
    state: { type: 'RUNNING', name: 'Running' },
  });
  await call(apiUrl, 'POST', `/flow_runs/${run.id}/set_state`, {
    state: { type: i % 20 ? 'COMPLETED' : 'FAILED' },
    force: true,
  });
}

/** @typedef {{bin: string, port: number, password: string}} Postgres the sandbox's PostgreSQL (sandbox.json) */

/**
 * `sql` through psql on the sandbox's database, stopping at the first error; `vars` are psql variables (`:name`,
 * `:'name'` quoted).
 * @param {Postgres} postgres
 * @param {string} sql
 * @param {Record<string, string | number>} [vars]
 * @returns {{ ok: boolean, out: string }} the rows printed unaligned, or psql's words on failure
 */
function psql(postgres, sql, vars = {}) {
  const args = ['-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-h', '127.0.0.1', '-p', String(postgres.port)];
  const bound = Object.entries(vars).flatMap(([name, value]) => ['-v', `${name}=${value}`]);
  const result = spawnSync(path.join(postgres.bin, 'psql'), [...args, ...bound, '-U', 'prefect', '-d', 'prefect'], {
    input: sql,
    env: { ...process.env, PGPASSWORD: postgres.password },
    encoding: 'utf8',
    timeout: 600_000,
  });
  return { ok: result.status === 0, out: `${result.stdout ?? ''}${result.stderr ?? ''}`.trim() };
}

/**
 * `ANALYZE` the tables the history grew, as a long-lived staging database has fresh planner statistics.
 * @param {Postgres} postgres
 */
export function analyze(postgres) {
  const result = psql(postgres, 'ANALYZE flow_run, flow_run_state;');
  if (!result.ok) log(`ANALYZE failed: ${result.out}`);
  return result.ok;
}

/**
 * Copies of API-made runs, inside the database. Copy `i` (from `from` on) is a copy of the API-made run
 * `first + (i - first) % sources` (its name and idempotency key bench-history-<i>; the 1-in-10 earlier-rehearsal tag
 * renamed rehearse-old-<i>), with all its flow_run_state rows, new ids, state_id on the copied current state, and
 * every time moved one day back per round through the sources. `sources` is a multiple of 20, so the copy keeps its
 * source's Completed or 1-in-20 Failed end and tags. Runs and states go in in one statement: both foreign keys
 * (flow_run_state.flow_run_id, flow_run.state_id) are checked when it ends.
 */
const COPY_SQL = `
SET jit = off;
BEGIN;
CREATE TEMP TABLE copy_map ON COMMIT DROP AS
  SELECT i, s.id AS src_id, s.state_id AS src_state_id, gen_random_uuid() AS new_id,
    'bench-history-' || lpad(i::text, 6, '0') AS name, ((i - :first) / :sources) * interval '1 day' AS back
  FROM generate_series(:from, :to - 1) AS i
  JOIN flow_run s ON s.flow_id = :'flow'
    AND s.idempotency_key = 'bench-history-' || lpad((:first + (i - :first) % :sources)::text, 6, '0');
CREATE TEMP TABLE state_map ON COMMIT DROP AS
  SELECT st.id AS src_id, gen_random_uuid() AS new_id, m.new_id AS run_id, m.back, st.id = m.src_state_id AS current
  FROM copy_map m JOIN flow_run_state st ON st.flow_run_id = m.src_id;
ANALYZE copy_map, state_map;
WITH runs AS (
  INSERT INTO flow_run
  SELECT copy.* FROM copy_map m JOIN flow_run r ON r.id = m.src_id
  LEFT JOIN state_map sm ON sm.run_id = m.new_id AND sm.current
  CROSS JOIN LATERAL jsonb_populate_record(r, jsonb_build_object(
    'id', m.new_id, 'name', m.name, 'idempotency_key', m.name, 'state_id', sm.new_id,
    'tags', (SELECT jsonb_agg(CASE WHEN t LIKE 'rehearse-old-%' THEN 'rehearse-old-' || m.i ELSE t END ORDER BY n)
             FROM jsonb_array_elements_text(r.tags::jsonb) WITH ORDINALITY AS e(t, n)),
    'created', r.created - m.back, 'updated', r.updated - m.back,
    'expected_start_time', r.expected_start_time - m.back,
    'next_scheduled_start_time', r.next_scheduled_start_time - m.back,
    'start_time', r.start_time - m.back, 'end_time', r.end_time - m.back,
    'state_timestamp', r.state_timestamp - m.back)) AS copy
  RETURNING 1
), states AS (
  INSERT INTO flow_run_state
  SELECT copy.* FROM state_map sm JOIN flow_run_state st ON st.id = sm.src_id
  CROSS JOIN LATERAL jsonb_populate_record(st, jsonb_build_object(
    'id', sm.new_id, 'flow_run_id', sm.run_id,
    'state_details', st.state_details::jsonb || jsonb_build_object('flow_run_id', sm.run_id),
    'timestamp', st.timestamp - sm.back, 'created', st.created - sm.back, 'updated', st.updated - sm.back)) AS copy
  RETURNING 1
)
SELECT (SELECT count(*) FROM runs) || ' ' || (SELECT count(*) FROM states)
  || ' ' || (SELECT new_id FROM copy_map ORDER BY i DESC LIMIT 1);
COMMIT;
`;

/**
 * Grows the history by copying API-made runs inside PostgreSQL (see COPY_SQL): copies `from` to `to - 1`.
 * @param {Postgres} postgres
 * @param {{ flowId: string, first: number, sources: number, from: number, to: number }} plan the API-made runs are
 *   bench-history-<first> to bench-history-<first + sources - 1>
 * @returns {{ runs: number, states: number, lastId: string }} rows inserted, and the id of copy `to - 1`
 */
export function copyRuns(postgres, plan) {
  if (plan.sources < 20 || plan.sources % 20 !== 0)
    throw new Error(`copy sources must be a multiple of 20, not ${plan.sources}`);
  const { flowId, ...numbers } = plan;
  const result = psql(postgres, COPY_SQL, { flow: flowId, ...numbers });
  const [runs, states, lastId] = result.out.split(/\s+/);
  if (!result.ok || !lastId) throw new Error(`copying runs in the database failed: ${result.out}`);
  return { runs: Number(runs), states: Number(states), lastId };
}
