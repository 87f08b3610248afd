import os from 'node:os';
import path from 'node:path';
import fs from 'fs-extra';
import { describe, expect, it } from 'vitest';
import { openStateHistory } from '../../../src/bundle/state-history.js';
import { computePeakConcurrency, peakOf, type RunHistory, runningSpanCollector } from '../../../src/guardrails/peak.js';

const at = (second: number): string => `2026-11-28T06:00:${String(second).padStart(2, '0')}.000123Z`;
const run = (n: number, start: number, end: number): RunHistory & { rehearsal: boolean } => ({
  runId: `run-${n}`,
  runName: `name-${n}`,
  rehearsal: n % 2 === 0,
  states: [
    { id: `s${n}a`, timestamp: at(start - 1), type: 'PENDING', name: 'Pending' },
    { id: `s${n}b`, timestamp: at(start), type: 'RUNNING', name: 'Running' },
    { id: `s${n}c`, timestamp: at(end), type: 'COMPLETED', name: 'Completed' },
  ],
});
const FILE = {
  asOf: at(59),
  deploymentId: 'dep-1',
  rehearsalRunIds: ['run-0', 'run-2'],
  runs: [run(0, 2, 10), run(1, 3, 12), run(2, 11, 20), run(3, 15, 16)],
};

async function write(text: string): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'rehearse-history-'));
  const file = path.join(dir, 'state-history.json');
  await fs.writeFile(file, text);
  return file;
}

async function readAll(file: string): Promise<{ header: unknown; runs: RunHistory[] }> {
  const reader = await openStateHistory(file);
  const runs: RunHistory[] = [];
  for await (const each of reader.runs) runs.push(each);
  return { header: reader.header, runs };
}

describe('state-history.json read one run at a time', () => {
  it('hands over every run of the layout the steps write, with the header read before the first', async () => {
    const { header, runs } = await readAll(await write(`${JSON.stringify(FILE, null, 2)}\n`));
    expect(header).toEqual({ asOf: FILE.asOf, deploymentId: 'dep-1', rehearsalRunIds: ['run-0', 'run-2'] });
    expect(runs).toEqual(FILE.runs);
  });

  it('reads any other layout of the same JSON whole, with the same result', async () => {
    for (const text of [JSON.stringify(FILE), JSON.stringify(FILE, null, 4), JSON.stringify({ ...FILE, runs: [] })]) {
      const { header, runs } = await readAll(await write(text));
      expect((header as { asOf: string }).asOf).toBe(FILE.asOf);
      expect(runs).toEqual(JSON.parse(text).runs);
    }
  });

  it('goes on from where it was when the layout changes part way, handing each run over once', async () => {
    const pretty = JSON.stringify(FILE, null, 2).split('\n');
    // The third run squeezed onto one line: valid JSON, not the steps' layout.
    const third = pretty.findIndex((line) => line.includes('"runId": "run-2"')) - 1;
    const close = pretty.findIndex((line, i) => i > third && /^ {4}\},?$/.test(line));
    const mixed = [...pretty.slice(0, third), `    ${JSON.stringify(FILE.runs[2])},`, ...pretty.slice(close + 1)];
    const { runs } = await readAll(await write(mixed.join('\n')));
    expect(runs.map((r) => r.runId)).toEqual(['run-0', 'run-1', 'run-2', 'run-3']);
  });

  it('refuses a run without the fields the peak needs, naming the field', async () => {
    const bad = { ...FILE, runs: [{ runName: 'no id', states: [] }] };
    await expect(readAll(await write(JSON.stringify(bad, null, 2)))).rejects.toThrow(/runId/);
  });

  it('gives the peak the whole file gives, from the runs as they stream', async () => {
    const reader = await openStateHistory(await write(JSON.stringify(FILE, null, 2)));
    const collector = runningSpanCollector(reader.header.asOf);
    for await (const each of reader.runs) collector.add(each);
    const streamed = peakOf(collector.finish());
    expect(streamed).toEqual(computePeakConcurrency(FILE.runs, FILE.asOf));
    expect(streamed.peak).toBe(2);
  });
});
