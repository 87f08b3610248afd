import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { renderTimelineSvg } from '../../../src/report/svg.js';
import { buildTimeline, type HistoryFile } from '../../../src/report/timeline.js';

const repo = path.resolve(import.meta.dirname, '..', '..', '..');
/** A real, complete, passing bundle (burst 3, limit 2, peak 2): a healthy burst. */
const FIXTURE = path.join(repo, 'fixtures/bundles/complete');
const LIMITS = { manifest_limit: 2, deployment_limit: 2, work_pool_limit: 2 };

const readHistory = async (): Promise<HistoryFile> =>
  JSON.parse(await readFile(path.join(FIXTURE, 'state-history.json'), 'utf8')) as HistoryFile;

const at = (second: number): string => new Date(Date.UTC(2026, 10, 26, 1, 0, second)).toISOString();
/** A run scheduled at 0, RUNNING from `from` to `to` (seconds), then Completed. */
const run = (id: string, from: number, to: number) => ({
  runId: id,
  runName: `run-${id}`,
  states: [
    { timestamp: at(0), type: 'SCHEDULED', name: 'Scheduled' },
    { timestamp: at(from - 1), type: 'SCHEDULED', name: 'AwaitingConcurrencySlot' },
    { timestamp: at(from), type: 'RUNNING', name: 'Running' },
    { timestamp: at(to), type: 'COMPLETED', name: 'Completed' },
  ],
});
/** Three runs RUNNING at once from 10s to 20s under a limit of 2: the loosened throttle. */
const overflow: HistoryFile = {
  asOf: at(40),
  rehearsalRunIds: ['a', 'b', 'c'],
  runs: [run('a', 5, 20), run('b', 10, 30), run('c', 8, 25), run('x', 35, 38)],
};

describe('buildTimeline', () => {
  it('draws one row per run of state-history.json, rehearsal runs first', async () => {
    const history = await readHistory();
    const model = buildTimeline(history, LIMITS);
    expect(model.rows.map((r) => r.runId)).toEqual(history.rehearsalRunIds);
    expect(model.rows).toHaveLength(history.runs.length);
    expect(model.rows[0]?.segments.map((s) => s.kind)).toEqual([
      'SCHEDULED',
      'PENDING',
      'PENDING',
      'RUNNING',
      'COMPLETED',
    ]);
  });

  it('puts the limit where the data puts it and shades nothing for a healthy burst', async () => {
    const model = buildTimeline(await readHistory(), LIMITS, { 'global_limit (slots)': 2 });
    expect(model.peak).toBe(2);
    expect(model.limits).toEqual([
      { value: 2, labels: ['deployment_limit', 'global_limit (slots)', 'manifest_limit', 'work_pool_limit'] },
    ]);
    expect(model.overflows).toEqual([]);
    expect(Math.max(...model.running.map((s) => s.count))).toBe(2);
    expect(model.running.at(-1)?.count).toBe(0);
  });

  it('shades one window above the limit and names its runs', () => {
    const model = buildTimeline(overflow, { deployment_limit: 2 });
    expect(model.peak).toBe(3);
    expect(model.overflows).toEqual([
      {
        from: Date.parse(at(10)),
        to: Date.parse(at(20)),
        limit: 2,
        runIds: ['a', 'b', 'c'],
        runNames: ['run-a', 'run-b', 'run-c'],
      },
    ]);
    const svg = renderTimelineSvg(model);
    expect(svg.match(/<g class="overflow"/g)).toHaveLength(1);
    expect(svg).toContain('above 2: run-a, run-b, run-c');
  });

  it('shades one window for one stretch above the limit, whoever comes and goes in it', () => {
    const stretch: HistoryFile = {
      asOf: at(40),
      runs: [run('a', 5, 20), run('b', 10, 30), run('c', 8, 25), run('d', 12, 15)],
    };
    const model = buildTimeline(stretch, { deployment_limit: 2 });
    expect(model.peak).toBe(4);
    expect(model.overflows).toMatchObject([
      { from: Date.parse(at(10)), to: Date.parse(at(20)), runIds: ['a', 'b', 'c', 'd'] },
    ]);
  });

  it('shades nothing for a slot limit: a RUNNING run may still wait for its slot', () => {
    expect(buildTimeline(overflow, {}, { 'global_limit (slots)': 2 }).overflows).toEqual([]);
  });

  it('ends a finished run at its final state and an unfinished one at asOf', () => {
    const open: HistoryFile = {
      asOf: at(40),
      runs: [{ runId: 'o', states: [{ timestamp: at(30), type: 'RUNNING', name: 'Running' }] }],
    };
    const rows = buildTimeline({ ...open, runs: [...open.runs, run('a', 5, 20)] }, {}).rows;
    expect(rows.map((r) => r.runId)).toEqual(['a', 'o']);
    expect(rows[1]?.segments.at(-1)).toMatchObject({ kind: 'RUNNING', to: Date.parse(at(40)), last: true });
    const done = buildTimeline(overflow, {}).rows[0]?.segments.at(-1);
    expect(done).toMatchObject({ kind: 'COMPLETED', last: true });
    expect(done?.to).toBe(done?.from);
  });

  it('colours the ENQUEUE wait apart from other scheduled states', () => {
    const kinds = buildTimeline(overflow, {}).rows[0]?.segments.map((s) => s.kind);
    expect(kinds).toEqual(['SCHEDULED', 'AwaitingConcurrencySlot', 'RUNNING', 'COMPLETED']);
  });
});

describe('renderTimelineSvg', () => {
  it('has one run group per row, one limit line per value, and escapes run names', async () => {
    const history = await readHistory();
    history.runs[0]!.runName = '<script>alert(1)</script>';
    const svg = renderTimelineSvg(buildTimeline(history, LIMITS));
    expect(svg.match(/<g class="run[ "]/g)).toHaveLength(3);
    expect(svg.match(/<g class="limit"/g)).toHaveLength(1);
    expect(svg).not.toContain('<script>');
    expect(svg).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(svg).not.toContain('class="overflow"');
  });

  it('past 50 runs puts runs in shared lanes, so 1,000 runs stay one screen tall, with the overflow window across them', () => {
    // Five RUNNING at a time under a limit of 2: one window above the limit, every run in it.
    const runs = Array.from({ length: 1000 }, (_, i) => run(String(i), 2 + i, 7 + i));
    const ids = runs.map((r) => r.runId);
    const svg = renderTimelineSvg(buildTimeline({ asOf: at(1100), rehearsalRunIds: ids, runs }, LIMITS));
    const height = Number(/height="([\d.]+)"/.exec(svg)?.[1]);
    expect(height).toBeLessThan(1100);
    expect(svg.match(/<g class="run[ "]/g)).toHaveLength(1000);
    expect(svg).toContain('runs 1-20 of 1000');
    expect(svg).toContain('runs 981-1000 of 1000');
    expect(svg).not.toContain('>run-999<');
    expect(svg).toContain('class="overflow"');
    // An overflow window's label names a few runs and counts the rest, never hundreds of names in one line.
    const labels = [...svg.matchAll(/<text[^>]*>(above 2: [^<]*)<\/text>/g)].map((m) => m[1] ?? '');
    expect(labels).toHaveLength(1);
    expect(labels[0]).toMatch(/^above 2: (run-\d+, ){3}run-\d+ and \d+ more$/);
  });

  it('is the same text every time it is drawn', async () => {
    const history = await readHistory();
    expect(renderTimelineSvg(buildTimeline(history, LIMITS))).toBe(renderTimelineSvg(buildTimeline(history, LIMITS)));
  });
});

describe('occupied slots beside RUNNING runs', () => {
  /** Two holders of hotpass-backfill: one slot from 6s to 19s, another from 11s to 29s. */
  const holder = (id: string, from: number, to: number) => ({
    runId: id,
    states: [
      { timestamp: at(from), type: 'RUNNING', name: 'Holding' },
      { timestamp: at(to), type: 'COMPLETED', name: 'Released' },
    ],
  });
  const slotFile = { asOf: at(40), limit: 'hotpass-backfill', runs: [holder('a', 6, 19), holder('b', 11, 29)] };

  it('draws the count of occupied slots of the global limit as its own step line, with its peak', () => {
    const model = buildTimeline(overflow, { deployment_limit: 2 }, { 'global_limit (slots)': 2 }, slotFile);
    expect(model.slots?.peak).toBe(2);
    expect(model.slots?.steps.map((s) => s.count)).toEqual([1, 2, 1, 0]);
    const svg = renderTimelineSvg(model);
    expect(svg).toContain('<path class="slots"');
    expect(svg).toContain(
      '<tspan x="4">occupied slots of</tspan><tspan x="4" dy="13">hotpass-backfill (peak 2)</tspan>',
    );
  });

  it('draws no slot line for a bundle without slot-history.json', () => {
    const model = buildTimeline(overflow, { deployment_limit: 2 });
    expect(model.slots).toBeUndefined();
    expect(renderTimelineSvg(model)).not.toContain('class="slots"');
  });
});

describe('faults on the timeline', () => {
  const marks = [{ at: Date.parse(at(12)), label: 'kill-flow on run-b', runId: 'b' }];

  it('marks each injected fault where it struck, across the runs and the counts', () => {
    const svg = renderTimelineSvg(buildTimeline(overflow, { deployment_limit: 2 }, {}, undefined, marks));
    const fault = /<g class="fault" data-run="b"><line x1="([\d.]+)"/.exec(svg);
    expect(fault, svg).not.toBeNull();
    expect(svg).toContain('fault: kill-flow on run-b');
    // At 12 s of a 0..40 s span: the same place as the axis puts +12s.
    const model = buildTimeline(overflow, { deployment_limit: 2 }, {}, undefined, marks);
    const share = (Date.parse(at(12)) - model.start) / (model.end - model.start);
    expect(Number(fault?.[1])).toBeCloseTo(210 + share * (1000 - 210 - 20), 0);
  });

  it('draws no fault without faults.json', () => {
    expect(renderTimelineSvg(buildTimeline(overflow, { deployment_limit: 2 }))).not.toContain('class="fault"');
  });
});
