// @ts-check
import { call } from '../lib/prefect.js';
import { sandboxOf } from '../lib/sandbox.js';
import { addRow, judge, median, raw, x } from '../lib/table.js';

/** @typedef {{ type: string, name: string, timestamp: string }} FlowRunState */
/** @typedef {{ claimed: number, started: number, total: number }} Pickup seconds from Scheduled to Pending and on */

/**
 * Row 9: how soon the sandbox starts a run a worker picks up, with the warm flow starter (quick timing's
 * default) and without it (the run's job variables blank REHEARSE_FLOW_STARTER, so its flow process starts
 * as Prefect starts it), taking turns, one run at a time on an idle sandbox.
 */
/** @param {import('../lib/sandbox.js').ReadySandbox} sandbox */
async function pickupRows(sandbox) {
  const rounds = 5;
  const deployment = await call(sandbox.apiUrl, 'GET', '/deployments/name/hotpass-backfill/hotpass-backfill');
  const seconds = (/** @type {FlowRunState} */ state) => Date.parse(state.timestamp) / 1000;
  /** @type {Record<'warm' | 'fresh', Pickup[]>} */
  const timings = { warm: [], fresh: [] };
  for (let round = 0; round < rounds; round += 1) {
    for (const mode of /** @type {('warm' | 'fresh')[]} */ (round % 2 === 0 ? ['fresh', 'warm'] : ['warm', 'fresh'])) {
      const run = await call(
        sandbox.apiUrl,
        'POST',
        `/deployments/${deployment.id}/create_flow_run`,
        {
          parameters: { since: '2024-01-01', until: '2024-01-01', day_seconds: 0.05 },
          tags: ['rehearse-bench-pickup'],
          ...(mode === 'fresh' ? { job_variables: { env: { REHEARSE_FLOW_STARTER: '' } } } : {}),
          // No idempotency key: a resent creation could make a second run.
        },
        { retrySafe: false },
      );
      for (let waited = 0; ; waited += 200) {
        const now = await call(sandbox.apiUrl, 'GET', `/flow_runs/${run.id}`);
        if (['COMPLETED', 'FAILED', 'CRASHED', 'CANCELLED'].includes(now.state_type)) break;
        if (waited > 120_000) throw new Error(`pickup run ${run.name} still ${now.state_type} after 120 s`);
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      /** @type {FlowRunState[]} */
      const states = (await call(sandbox.apiUrl, 'GET', `/flow_run_states/?flow_run_id=${run.id}`)).sort(
        (/** @type {FlowRunState} */ a, /** @type {FlowRunState} */ b) => a.timestamp.localeCompare(b.timestamp),
      );
      const at = (/** @type {string} */ type) => states.find((st) => st.type === type);
      const [first] = states;
      const pending = at('PENDING');
      const running = at('RUNNING');
      if (!first || !pending || !running)
        throw new Error(`pickup run ${run.name} never ran (${states.map((st) => st.name).join(', ')})`);
      timings[mode].push({
        claimed: seconds(pending) - seconds(first),
        started: seconds(running) - seconds(pending),
        total: seconds(running) - seconds(first),
      });
    }
  }
  /** @param {'warm' | 'fresh'} mode @param {keyof Pickup} key */
  const mid = (mode, key) => median(timings[mode].map((t) => t[key]));
  raw.pickup = timings;
  const ratio = mid('warm', 'started') / mid('fresh', 'started');
  addRow({
    row: '9 pickup (sandbox)',
    figure: `Scheduled -> Running ${mid('warm', 'total').toFixed(2)} s with the warm flow starter, ${mid('fresh', 'total').toFixed(2)} s without; the flow process's start (Pending -> Running) ${x(ratio)} (${mid('warm', 'started').toFixed(2)} s vs ${mid('fresh', 'started').toFixed(2)} s); medians of ${rounds} runs each, taking turns`,
    goal: 'about 1 s',
    ratio,
    ...judge(
      mid('warm', 'total') <= 1.5,
      `${mid('warm', 'total').toFixed(2)} s from Scheduled to Running (worker poll ${mid('warm', 'claimed').toFixed(2)} s)`,
    ),
  });
}

/** @type {import('../lib/sandbox.js').BenchRow} */
export default {
  id: 9,
  title: '9 pickup (sandbox)',
  needs: 'sqlite',
  run: (ctx) => pickupRows(sandboxOf(ctx, 'row 9')),
};
