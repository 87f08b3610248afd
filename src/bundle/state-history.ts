import { createReadStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { z } from 'zod';
import type { RunHistory } from '../guardrails/peak.js';

/** One run of state-history.json: what the peak needs of it, checked as it is read. */
const RunHistorySchema = z.object({
  runId: z.string(),
  runName: z.string().optional(),
  /** Whether the rehearsal made the run; absent in a slot history. */
  rehearsal: z.boolean().optional(),
  states: z.array(
    z.object({
      id: z.string().optional(),
      timestamp: z.string(),
      type: z.string(),
      name: z.string().nullable().optional(),
    }),
  ),
});

/** One run as the capture and validate steps write it: marked whether the rehearsal made it. */
const StateHistoryRunSchema = RunHistorySchema.extend({ rehearsal: z.boolean() });

/**
 * state-history.json whole, as the capture and validate steps write it (`collectStateHistories` in
 * steps/capture/histories.ts); validate parses a stored one with it before judging anything.
 */
export const StateHistoryFileSchema = z.object({
  asOf: z.string(),
  deploymentId: z.string().nullable(),
  rehearsalRunIds: z.array(z.string()),
  runs: z.array(StateHistoryRunSchema),
});

/**
 * What the report draws from state-history.json: the same file, but which runs the rehearsal made may be
 * left out, so a history made by hand (the bench's 100k runs) draws too, with every run as another's.
 */
export const DrawnHistorySchema = StateHistoryFileSchema.omit({ deploymentId: true }).extend({
  rehearsalRunIds: z.array(z.string()).optional(),
  runs: z.array(StateHistoryRunSchema.partial({ rehearsal: true })),
});
export type DrawnHistory = z.infer<typeof DrawnHistorySchema>;

/**
 * slot-history.json, as validate writes it for a live global limit: one pseudo-run per holder of a slot,
 * RUNNING while it held one; `occupy` is the most slots one acquisition took (null when none was seen).
 */
export const SlotHistoryFileSchema = z.object({
  asOf: z.string(),
  limit: z.string(),
  occupy: z.number().nullable(),
  runs: z.array(RunHistorySchema),
});
export type SlotHistoryFile = z.infer<typeof SlotHistoryFileSchema>;

/** One run as the reader hands it over. */
type HistoryRun = RunHistory & { rehearsal?: boolean };

/** Everything in state-history.json but its runs. */
const HeaderSchema = z.looseObject({ asOf: z.string() });
type StateHistoryHeader = z.infer<typeof HeaderSchema>;

export interface StateHistoryReader {
  header: StateHistoryHeader;
  /** The runs in file order, each parsed and checked as it is reached; none are kept. */
  runs: AsyncGenerator<HistoryRun>;
}

// The layout the capture and validate steps write (JSON.stringify with two spaces): the runs array opens on its
// own line and each run is an object whose first and last lines sit at four spaces.
const RUNS_OPEN = '  "runs": [';
const RUN_OPEN = '    {';
const RUN_CLOSE = /^ {4}\},?$/;
const RUNS_CLOSE = /^ {2}\],?$/;

/**
 * Opens state-history.json for a reader that wants one run at a time: a 100k-run file is ~100 MB of JSON, and
 * only one run of it is parsed at once. A file in another layout (still valid JSON) is parsed whole instead.
 */
export async function openStateHistory(file: string): Promise<StateHistoryReader> {
  const lines = createInterface({ input: createReadStream(file, 'utf8'), crlfDelay: Infinity })[Symbol.asyncIterator]();
  const head: string[] = [];
  for (let next = await lines.next(); !next.done; next = await lines.next()) {
    head.push(next.value);
    if (next.value === RUNS_OPEN) {
      const { runs: _none, ...header } = HeaderSchema.parse(JSON.parse(`${head.join('\n')}]}`));
      return { header, runs: streamRuns(file, lines, header) };
    }
  }
  await lines.return?.();
  return readWhole(file);
}

async function* streamRuns(
  file: string,
  lines: AsyncIterator<string>,
  header: StateHistoryHeader,
): AsyncGenerator<HistoryRun> {
  let handed = 0;
  let run: string[] = [];
  for (let next = await lines.next(); !next.done; next = await lines.next()) {
    const line = next.value;
    if (run.length === 0 && line === RUN_OPEN) run.push('{');
    else if (run.length > 0 && RUN_CLOSE.test(line)) {
      run.push('}');
      yield RunHistorySchema.parse(JSON.parse(run.join('\n')));
      handed += 1;
      run = [];
    } else if (run.length > 0) run.push(line);
    else if (RUNS_CLOSE.test(line)) return;
    else {
      // Not the layout this reader knows: read the file whole and go on after the runs already handed over.
      await lines.return?.();
      const whole = await readWhole(file);
      if (whole.header.asOf !== header.asOf) throw new Error(`${file} changed while it was read`);
      for await (const rest of whole.runs) if (handed-- <= 0) yield rest;
      return;
    }
  }
}

async function readWhole(file: string): Promise<StateHistoryReader> {
  const { runs, ...rest } = z
    .looseObject({ asOf: z.string(), runs: z.array(z.unknown()) })
    .parse(JSON.parse(await readFile(file, 'utf8')));
  async function* each(): AsyncGenerator<HistoryRun> {
    for (const run of runs) yield RunHistorySchema.parse(run);
  }
  return { header: rest, runs: each() };
}
