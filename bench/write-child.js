// @ts-check
// Row 3's write half, in its own node process per measurement:
//   node bench/write-child.js <runs> stream|whole
// Holds a synthetic state history of <runs> runs as the capture step does once it has read them, then
// writes state-history.json into a throw-away bundle: `stream` through writeEvidenceJson (piece by
// piece, as the steps do), `whole` as one JSON.stringify string through writeEvidence (as they did).
// Prints one JSON line: the write's time, the process's peak RSS, and the RSS before the write.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { writeEvidence, writeEvidenceJson } from '../dist/bundle/bundle.js';
import { createRedactor } from '../dist/secrets/redact.js';
import { lastInstant, synthetic } from './synthetic.js';

const runs = Number(process.argv[2]);
const mode = process.argv[3];
if (!Number.isInteger(runs) || runs < 1 || !/^(stream|whole)$/.test(mode ?? '')) {
  process.stderr.write('usage: node bench/write-child.js <runs> stream|whole\n');
  process.exit(2);
}

// Through JSON, as the API hands runs over: flat strings, not the generator's concatenations.
const histories = {
  asOf: lastInstant(runs),
  deploymentId: null,
  rehearsalRunIds: [],
  runs: Array.from(synthetic(runs), (run) => JSON.parse(JSON.stringify(run))),
};
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rehearse-bench-write-'));
const bundle = { dir, name: '20260101T000000Z', redact: createRedactor([]) };
const stamp = new Date();
global.gc?.();
const rssBeforeBytes = process.memoryUsage().rss;
const started = performance.now();
if (mode === 'stream') await writeEvidenceJson(bundle, 'state-history.json', histories, stamp);
else await writeEvidence(bundle, 'state-history.json', `${JSON.stringify(histories, null, 2)}\n`, stamp);
const writeMs = performance.now() - started;
const fileBytes = fs.statSync(path.join(dir, 'state-history.json')).size;
fs.rmSync(dir, { recursive: true, force: true });
process.stdout.write(
  `${JSON.stringify({ runs, mode, writeMs, fileBytes, rssBeforeBytes, maxRssKB: process.resourceUsage().maxRSS })}\n`,
);
