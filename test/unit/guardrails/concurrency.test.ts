import { describe, expect, it } from 'vitest';
import { judgeLimit, measurePeak, slotHolderHistories, type AppliedLimit, type SlotEventLike } from '../../../src/guardrails/concurrency.js';
import { windowsAbove } from '../../../src/guardrails/peak.js';
import { readSlotEvents } from '../../../src/prefect/runs.js';
import { createFakeApi } from '../../support/fake-api.js';
import { LIMITED_BURST, recordedEventsRoute, stateHistoryOf, UNLIMITED_BURST } from '../../support/recorded-runs.js';

const LIMITED = stateHistoryOf(LIMITED_BURST, '2026-11-26T01:29:05.000Z');
const UNLIMITED = stateHistoryOf(UNLIMITED_BURST, '2026-11-26T01:49:54.542Z');
const limit = (value: number | undefined): AppliedLimit => ({ id: 'concurrency.manifest_limit', title: "peak concurrency within the manifest's limit", limit: value, why: 'the manifest promises no limit' });

function judge(value: number | undefined, history: typeof LIMITED, what?: string) {
  const peak = measurePeak(history.runs, history.asOf);
  return judgeLimit(limit(value), history.runs, peak, history.runs.length, history.asOf, what);
}

/** The recorded acquired/released events between two instants, read as the validate step reads them. */
const slotEvents = (since: string, until: string) => readSlotEvents(createFakeApi({ 'POST /events/filter': recordedEventsRoute() }), since, until);

describe('judgeLimit, on the recorded bursts', () => {
  it('is inconclusive when no limit applies, whatever the peak', () => {
    const check = judge(undefined, UNLIMITED);
    expect(check.verdict).toBe('inconclusive');
    expect(check.expected).toBeNull();
    expect(check.reason).toBe('the manifest promises no limit: nothing to measure against (peak 4)');
  });

  it('is inconclusive when no more runs were submitted than the limit allows: the limit was never tested', () => {
    const check = judge(3, LIMITED);
    expect(check.verdict).toBe('inconclusive');
    expect(check.reason).toBe('only 3 run(s) were submitted, so the limit of 3 was never tested (peak 2); use --burst 4');
    expect(judge(4, UNLIMITED).verdict).toBe('inconclusive');
  });

  it('fails a peak over the limit, with the windows in which it was exceeded, naming the runs', () => {
    const check = judge(2, UNLIMITED);
    expect(check.verdict).toBe('fail');
    expect(check.actual).toEqual({
      peak: 4,
      windows: [
        { start: '2026-11-26T01:49:35.424112Z', end: '2026-11-26T01:49:36.718418Z', runIds: ['7d4010ed-38cc-4f28-b2ff-0fd4a01fb559', '9c3590fd-d437-4d34-ad71-c02b3a7af60a', 'd70ea922-578c-4b7a-8a3e-ee7175bb322f'] },
        { start: '2026-11-26T01:49:36.718418Z', end: '2026-11-26T01:49:48.590945Z', runIds: ['7d4010ed-38cc-4f28-b2ff-0fd4a01fb559', '9c3590fd-d437-4d34-ad71-c02b3a7af60a', 'ba42f45d-8613-4fa8-893a-732e99e15c19', 'd70ea922-578c-4b7a-8a3e-ee7175bb322f'] },
        { start: '2026-11-26T01:49:48.590945Z', end: '2026-11-26T01:49:49.512843Z', runIds: ['9c3590fd-d437-4d34-ad71-c02b3a7af60a', 'ba42f45d-8613-4fa8-893a-732e99e15c19', 'd70ea922-578c-4b7a-8a3e-ee7175bb322f'] },
      ],
    });
    expect(check.reason).toBe([
      '4 runs RUNNING at once, limit 2: 2026-11-26T01:49:35.424112Z..2026-11-26T01:49:36.718418Z: beautiful-muskox, spicy-dragon, fast-ammonite',
      '2026-11-26T01:49:36.718418Z..2026-11-26T01:49:48.590945Z: beautiful-muskox, spicy-dragon, overjoyed-rattlesnake, fast-ammonite',
      '2026-11-26T01:49:48.590945Z..2026-11-26T01:49:49.512843Z: spicy-dragon, overjoyed-rattlesnake, fast-ammonite',
    ].join('; '));
    // Only the windows above the limit: with 3 allowed, the middle one alone.
    expect((judge(3, UNLIMITED).actual as { windows: unknown[] }).windows).toEqual(windowsAbove(UNLIMITED.runs, 3, UNLIMITED.asOf));
    expect((judge(3, UNLIMITED).actual as { windows: unknown[] }).windows).toHaveLength(1);
  });

  it('passes a peak within a limit that more runs than it allows put to the test', () => {
    const check = judge(2, LIMITED);
    expect(check.verdict).toBe('pass');
    expect([check.expected, check.actual]).toEqual([2, 2]);
    expect(check.reason).toBe('peak 2 runs RUNNING with 3 submitted, limit 2');
    expect(judge(2, LIMITED, 'slot holders').reason).toBe('peak 2 slot holders with 3 submitted, limit 2');
  });
});

describe('slotHolderHistories, from the recorded concurrency-limit events', () => {
  it('turns each run\'s acquired and released events into one holding interval', async () => {
    const holders = slotHolderHistories(await slotEvents('2026-11-26T01:28:28.000Z', '2026-11-26T01:29:05.000Z'), 'hotpass-backfill');
    expect(holders).toEqual([
      { runId: '82d8546f-0725-45af-9b8f-c20485454e6c', states: [{ timestamp: '2026-11-26T01:28:37.087097Z', type: 'RUNNING' }, { timestamp: '2026-11-26T01:28:44.172856Z', type: 'COMPLETED' }] },
      { runId: '34488f86-11b8-4ab6-8c44-3911ceff7a47', states: [{ timestamp: '2026-11-26T01:28:37.162525Z', type: 'RUNNING' }, { timestamp: '2026-11-26T01:28:44.256911Z', type: 'COMPLETED' }] },
      { runId: '5162db9a-b77d-488c-9971-6472528d5ee4', states: [{ timestamp: '2026-11-26T01:28:51.715404Z', type: 'RUNNING' }, { timestamp: '2026-11-26T01:28:58.790787Z', type: 'COMPLETED' }] },
    ]);
    expect(measurePeak(holders, '2026-11-26T01:29:05.000Z').peak).toBe(2);
  });

  it('shows all four runs of the unthrottled burst holding a slot at once', async () => {
    const holders = slotHolderHistories(await slotEvents('2026-11-26T01:49:20.000Z', '2026-11-26T01:49:55.000Z'), 'hotpass-backfill');
    expect(holders.map((h) => h.runId).sort()).toEqual(UNLIMITED.rehearsalRunIds.slice().sort());
    expect(measurePeak(holders, UNLIMITED.asOf).peak).toBe(4);
  });

  it('gives the same holders whatever order the events come in', async () => {
    const events = await slotEvents('2026-11-26T01:00:00.000Z', '2026-11-26T02:00:00.000Z');
    expect(events).toHaveLength(22);
    const holders = slotHolderHistories(events, 'hotpass-backfill');
    expect(holders).toHaveLength(11);
    expect(slotHolderHistories([...events].reverse(), 'hotpass-backfill')).toEqual(holders);
  });

  it('keeps only the named limit, and only events that name a flow run', async () => {
    const events = await slotEvents('2026-11-26T01:28:28.000Z', '2026-11-26T01:29:05.000Z');
    expect(slotHolderHistories(events, 'another-limit')).toEqual([]);
    const taskLevel: SlotEventLike = { occurred: '2026-11-26T01:28:40.000000Z', event: 'prefect.concurrency-limit.acquired', limitName: 'hotpass-backfill', flowRunId: undefined };
    expect(slotHolderHistories([...events, taskLevel], 'hotpass-backfill')).toEqual(slotHolderHistories(events, 'hotpass-backfill'));
  });
});
