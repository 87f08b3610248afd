import { describe, expect, it } from 'vitest';
import {
  type AppliedLimit,
  findOccupy,
  judgeLimit,
  judgeManifest,
  type LimitEvidence,
  measurePeak,
  type SlotEventLike,
  slotHolderHistories,
} from '../../../src/guardrails/concurrency.js';
import type { RunHistory } from '../../../src/guardrails/peak.js';
import { readSlotEvents } from '../../../src/prefect/runs.js';
import type { StateHistoryFile } from '../../../src/steps/capture/histories.js';
import { createFakeApi, recorded } from '../../support/fake-api.js';
import { LIMITED_BURST, recordedEventsRoute, stateHistoryOf, UNLIMITED_BURST } from '../../support/recorded-runs.js';

const LIMITED = stateHistoryOf(LIMITED_BURST, '2026-11-26T01:29:05.000Z');
const UNLIMITED = stateHistoryOf(UNLIMITED_BURST, '2026-11-26T01:49:54.542Z');

const deploymentLimit = (limit: number | undefined): AppliedLimit => ({
  id: 'concurrency.deployment_limit',
  title: 'deployment',
  label: 'deployment limit',
  measure: 'running',
  limit,
  why: 'the deployment has no limit',
});
const poolLimit = (limit: number | undefined): AppliedLimit => ({
  id: 'concurrency.work_pool_limit',
  title: 'pool',
  label: 'work-pool limit',
  measure: 'running',
  limit,
  why: 'no pool limit',
});
const globalLimit = (limit: number | undefined): AppliedLimit => ({
  id: 'concurrency.global_limit',
  title: 'global',
  label: 'global limit hotpass-backfill',
  measure: 'slots',
  limit,
  why: 'no global limit',
});

/** The recorded acquired/released events between two instants, read as the validate step reads them. */
const slotEvents = (since: string, until: string) =>
  readSlotEvents(createFakeApi({ 'POST /events/filter': recordedEventsRoute() }), since, { until });
const LIMITED_WINDOW = ['2026-11-26T01:28:28.000Z', '2026-11-26T01:29:05.000Z'] as const;

/** Evidence as the validate step assembles it, from state histories and slot events. */
function evidenceOf(
  runs: readonly RunHistory[],
  asOf: string,
  events: readonly SlotEventLike[],
  extra: Partial<LimitEvidence> = {},
): LimitEvidence {
  const holders = slotHolderHistories(events, 'hotpass-backfill');
  return {
    running: { histories: runs, peak: measurePeak(runs, asOf) },
    slots: { histories: holders, peak: measurePeak(holders, asOf) },
    occupy: findOccupy(events, 'hotpass-backfill'),
    submitted: runs.length,
    others: [],
    waited: [],
    asOf,
    ...extra,
  };
}

/**
 * The recorded burst of 3 as a key limit of 1 leaves it: the same RUNNING histories (a run is RUNNING
 * while it waits for a slot), the slot events moved so that one run holds the slot at a time.
 */
function serialisedSlots(events: SlotEventLike[]): SlotEventLike[] {
  const [a1, b1, a2, b2, c1, c2] = [...events].sort((x, y) => x.occurred.localeCompare(y.occurred));
  if (!a1 || !b1 || !a2 || !b2 || !c1 || !c2) throw new Error('the recorded burst of 3 has six slot events');
  return [
    a1,
    a2,
    { ...b1, occurred: '2026-11-26T01:28:44.300000Z' },
    { ...b2, occurred: '2026-11-26T01:28:51.000000Z' },
    c1,
    c2,
  ];
}

describe('judgeLimit: each limit against what it bounds, a pass only when the limit was reached', () => {
  it('passes a limit the runs reached and held (peak 2 of 2 with 3 submitted)', async () => {
    const check = judgeLimit(deploymentLimit(2), evidenceOf(LIMITED.runs, LIMITED.asOf, []));
    expect([check.verdict, check.expected, check.actual]).toEqual(['pass', 2, 2]);
    expect(check.reason).toBe(
      'peak 2 runs RUNNING reached the deployment limit of 2 and never exceeded it (3 submitted)',
    );
  });

  it('is inconclusive, naming why, when the peak stays under the limit although more runs were submitted', () => {
    // Two of the recorded runs that never overlapped, out of the 3 submitted.
    const apart = LIMITED.runs.filter((r) => r.runName !== 'weightless-pronghorn');
    const check = judgeLimit(deploymentLimit(2), evidenceOf(apart, LIMITED.asOf, [], { submitted: 3 }));
    expect(check.verdict).toBe('inconclusive');
    expect(check.reason).toBe(
      'peak 1 runs RUNNING under the deployment limit of 2 although 3 run(s) were submitted: the runs never overlapped enough to fill it, so nothing showed it throttling',
    );
    expect(check.reason).not.toContain('--burst');
  });

  it('passes a limit that was not reached when runs waited in AwaitingConcurrencySlot: it was full', () => {
    const apart = LIMITED.runs.filter((r) => r.runName !== 'weightless-pronghorn');
    const check = judgeLimit(
      deploymentLimit(2),
      evidenceOf(apart, LIMITED.asOf, [], { submitted: 3, waited: ['ambitious-raptor'] }),
    );
    expect(check.verdict).toBe('pass');
    expect(check.reason).toContain(
      '1 run(s) waited for a slot of the deployment limit of 2 (AwaitingConcurrencySlot: ambitious-raptor)',
    );
  });

  it('advises a bigger burst only when too few runs were submitted to reach an unshielded limit', () => {
    const check = judgeLimit(deploymentLimit(3), evidenceOf(LIMITED.runs, LIMITED.asOf, []));
    expect(check.verdict).toBe('inconclusive');
    expect(check.reason).toBe(
      'only 3 run(s) were submitted, so the deployment limit of 3 could not be reached (peak 2 runs RUNNING); use --burst 4',
    );
  });

  it('reports a pool limit loosened to 10 as shielded by the deployment limit of 2, with no advice that cannot help', () => {
    const limits = [deploymentLimit(2), poolLimit(10)];
    const check = judgeLimit(poolLimit(10), evidenceOf(LIMITED.runs, LIMITED.asOf, []), limits);
    expect(check.verdict).toBe('pass');
    expect(check.reason).toBe(
      'shielded: at most 2 runs RUNNING can happen under the deployment limit of 2, which the runs reached (peak 2) and held, so the work-pool limit of 10 cannot be reached while the deployment limit of 2 stands',
    );
    expect(check.reason).not.toContain('--burst');
    // Had even the tighter limit not been reached, the shielded one proves nothing.
    const single = LIMITED.runs.slice(0, 1);
    const unreached = judgeLimit(poolLimit(10), evidenceOf(single, LIMITED.asOf, []), limits);
    expect(unreached.verdict).toBe('inconclusive');
    expect(unreached.reason).toContain(
      'shielded: at most 2 runs RUNNING can happen under the deployment limit of 2, and even that was not reached (peak 1)',
    );
    expect(unreached.reason).not.toContain('--burst');
  });

  it("fails a peak over the limit, naming the peak's own window, then the span above the limit", () => {
    const check = judgeLimit(deploymentLimit(2), evidenceOf(UNLIMITED.runs, UNLIMITED.asOf, []));
    expect(check.verdict).toBe('fail');
    expect(check.reason).toBe(
      '4 runs RUNNING at once, deployment limit 2; at the peak: 2026-11-26T01:49:36.718418Z..2026-11-26T01:49:48.590945Z: beautiful-muskox, spicy-dragon, overjoyed-rattlesnake, fast-ammonite; above the limit in 3 window(s), 2026-11-26T01:49:35.424112Z..2026-11-26T01:49:49.512843Z',
    );
    expect((check.actual as { windows: unknown[] }).windows).toHaveLength(3);
  });

  it('is inconclusive when no limit applies, whatever the peak', () => {
    const check = judgeLimit(deploymentLimit(undefined), evidenceOf(UNLIMITED.runs, UNLIMITED.asOf, []));
    expect([check.verdict, check.expected]).toEqual(['inconclusive', null]);
    expect(check.reason).toBe('the deployment has no limit: nothing to measure against (peak 4 runs RUNNING)');
  });
});

describe('the global limit, judged against occupied slots', () => {
  it('counts the slots each acquisition took: occupy 2 of a limit of 2 fills it with one run', async () => {
    const recorded = await slotEvents(...LIMITED_WINDOW);
    expect(recorded.map((e) => e.slots)).toEqual(Array(6).fill(1));
    const occupy2 = serialisedSlots(recorded).map((e) => ({ ...e, slots: 2 }));
    const evidence = evidenceOf(LIMITED.runs, LIMITED.asOf, occupy2);
    expect([evidence.occupy, evidence.slots.peak.peak]).toEqual([2, 2]);
    const check = judgeLimit(globalLimit(2), evidence, [deploymentLimit(2), globalLimit(2)]);
    expect(check.verdict).toBe('pass');
    expect(check.reason).toBe(
      'peak 2 slots occupied reached the global limit hotpass-backfill of 2 and never exceeded it (3 submitted); each run occupies 2 of the 2 slot(s), so one run holds them all and runs take turns',
    );
  });

  it('fails two runs holding 2 slots each under a limit of 2, naming each run with its slots', async () => {
    const occupy2 = (await slotEvents(...LIMITED_WINDOW)).map((e) => ({ ...e, slots: 2 }));
    const check = judgeLimit(globalLimit(2), evidenceOf(LIMITED.runs, LIMITED.asOf, occupy2));
    expect(check.verdict).toBe('fail');
    expect(check.reason).toContain(
      '4 slots occupied at once, global limit hotpass-backfill 2; at the peak: 2026-11-26T01:28:37.162525Z..2026-11-26T01:28:44.172856Z: 34488f86-11b8-4ab6-8c44-3911ceff7a47 ×2, 82d8546f-0725-45af-9b8f-c20485454e6c ×2',
    );
    expect(check.actual).toMatchObject({ peak: 4 });
  });

  it('a key limit of 1 under a deployment limit of 2 (recorded on the sandbox): two runs RUNNING, one slot held, no failure', async () => {
    // Recorded by test/e2e/verdicts.test.ts: muscular-bird was RUNNING 7 s before it got the slot.
    const history = JSON.parse(recorded('state-history.key-limit-1.json')) as StateHistoryFile;
    const page = recorded('events.key-limit-1.json');
    const events = await readSlotEvents(
      createFakeApi({ 'POST /events/filter': { status: 200, text: page } }),
      '2026-11-28T00:03:00Z',
    );
    const evidence = evidenceOf(history.runs, history.asOf, events);
    expect([evidence.running.peak.peak, evidence.slots.peak.peak, evidence.occupy]).toEqual([2, 1, 1]);
    const live = [deploymentLimit(2), poolLimit(2), globalLimit(1)];
    expect(live.map((l) => judgeLimit(l, evidence, live).verdict)).toEqual(['pass', 'pass', 'pass']);

    // Each promise judged through what it bounds; never the key's 1 against RUNNING runs.
    const kept = judgeManifest({ deploymentLimit: 2, keyLimit: 1, source: 'm.yaml' }, evidence, live);
    expect([kept.verdict, kept.expected]).toEqual(['pass', { runsRunning: 2, slotsOccupied: 1 }]);
    // A live key limit of 1, below the manifest's 2, shields the promise: it does not break it.
    const shielded = judgeManifest({ deploymentLimit: 2, keyLimit: 2, source: 'm.yaml' }, evidence, live);
    expect(shielded.verdict).toBe('pass');
    expect(shielded.reason).toContain(
      "shielded: at most 1 slots occupied can happen under the global limit hotpass-backfill of 1, which the runs reached (peak 1) and held, so the manifest's key limit of 2 cannot be reached",
    );
  });

  it('the same key limit of 1, serialised from the burst of 3 recorded earlier, gives the same verdicts', async () => {
    const events = serialisedSlots(await slotEvents(...LIMITED_WINDOW));
    const evidence = evidenceOf(LIMITED.runs, LIMITED.asOf, events);
    expect([evidence.running.peak.peak, evidence.slots.peak.peak]).toEqual([2, 1]);
    const live = [deploymentLimit(2), poolLimit(2), globalLimit(1)];
    expect(judgeManifest({ deploymentLimit: 2, keyLimit: 1, source: 'm.yaml' }, evidence, live).verdict).toBe('pass');
  });

  it("fails the manifest's promise through the measure that broke it, naming the peak window", () => {
    const evidence = evidenceOf(UNLIMITED.runs, UNLIMITED.asOf, []);
    const check = judgeManifest({ deploymentLimit: 2, keyLimit: 2, source: 'm.yaml' }, evidence, [
      deploymentLimit(4),
      poolLimit(4),
      globalLimit(undefined),
    ]);
    expect(check.verdict).toBe('fail');
    expect(check.reason).toMatch(
      /^4 runs RUNNING at once, manifest's deployment limit 2; at the peak: 2026-11-26T01:49:36.718418Z\.\.2026-11-26T01:49:48.590945Z: /,
    );
    expect(check.actual).toMatchObject({ runsRunning: 4, slotsOccupied: 0 });
  });
});

describe('slotHolderHistories, from the recorded concurrency-limit events', () => {
  it("turns each run's acquired and released events into one holding interval per slot", async () => {
    const holders = slotHolderHistories(await slotEvents(...LIMITED_WINDOW), 'hotpass-backfill');
    expect(holders).toEqual([
      {
        runId: '82d8546f-0725-45af-9b8f-c20485454e6c',
        states: [
          { timestamp: '2026-11-26T01:28:37.087097Z', type: 'RUNNING' },
          { timestamp: '2026-11-26T01:28:44.172856Z', type: 'COMPLETED' },
        ],
      },
      {
        runId: '34488f86-11b8-4ab6-8c44-3911ceff7a47',
        states: [
          { timestamp: '2026-11-26T01:28:37.162525Z', type: 'RUNNING' },
          { timestamp: '2026-11-26T01:28:44.256911Z', type: 'COMPLETED' },
        ],
      },
      {
        runId: '5162db9a-b77d-488c-9971-6472528d5ee4',
        states: [
          { timestamp: '2026-11-26T01:28:51.715404Z', type: 'RUNNING' },
          { timestamp: '2026-11-26T01:28:58.790787Z', type: 'COMPLETED' },
        ],
      },
    ]);
    expect(measurePeak(holders, LIMITED.asOf).peak).toBe(2);
  });

  it('shows all four runs of the unthrottled burst holding a slot at once', async () => {
    const holders = slotHolderHistories(
      await slotEvents('2026-11-26T01:49:20.000Z', '2026-11-26T01:49:55.000Z'),
      'hotpass-backfill',
    );
    expect(holders.map((h) => h.runId).sort()).toEqual(UNLIMITED.rehearsalRunIds.slice().sort());
    expect(measurePeak(holders, UNLIMITED.asOf).peak).toBe(4);
  });

  it('gives the same holders whatever order the events come in, and keeps only the named limit', async () => {
    const events = await slotEvents('2026-11-26T01:00:00.000Z', '2026-11-26T02:00:00.000Z');
    expect(events).toHaveLength(22);
    const holders = slotHolderHistories(events, 'hotpass-backfill');
    expect(holders).toHaveLength(11);
    expect(slotHolderHistories([...events].reverse(), 'hotpass-backfill')).toEqual(holders);
    expect(slotHolderHistories(events, 'another-limit')).toEqual([]);
    const taskLevel: SlotEventLike = {
      occurred: '2026-11-26T01:28:40.000000Z',
      event: 'prefect.concurrency-limit.acquired',
      limitName: 'hotpass-backfill',
      flowRunId: undefined,
    };
    expect(slotHolderHistories([...events, taskLevel], 'hotpass-backfill')).toEqual(holders);
  });
});
