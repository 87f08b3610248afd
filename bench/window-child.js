// @ts-check
// The window bench (issue 28, row 11), in its own node process:
//   node bench/window-child.js <days> [<days>...]
// For each window, the upstream-shaped flow's parameters (a `runs` list, one {run_date, version} a day)
// built as `rehearse run` builds them, the median of 200 calls; then fixtures/bundles/complete copied with
// those parameters on its run step and on each run's metadata, and its report.html built. Prints one JSON
// line per window: build time per call, the parameters' bytes, the bundle's and the report's bytes.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { buildWindowParameters } from '../dist/prefect/parameters.js';
import { buildReport } from '../dist/report/write.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const schemas = JSON.parse(fs.readFileSync(path.join(repo, 'fixtures/prefect/parameter-schemas/schemas.json'), 'utf8'));
/** @type {[{ parameters: Record<string, unknown> }, ...{ parameters: Record<string, unknown> }[]]} */
const metadata = JSON.parse(fs.readFileSync(path.join(repo, 'fixtures/bundles/complete/metadata.json'), 'utf8'));
/** What the upstream deploy stores on the deployment, as the fixture bundle's runs carry it. */
const defaults = metadata[0].parameters;
const since = '2024-01-01';
const dayAfter = (/** @type {number} */ days) =>
  new Date(Date.parse(`${since}T00:00:00Z`) + (days - 1) * 86_400_000).toISOString().slice(0, 10);

/** @param {number} days */
function build(days) {
  return buildWindowParameters({
    deploymentName: 'hotpass-backfill',
    parameterSchema: schemas.upstream,
    deploymentParameters: defaults,
    since,
    until: dayAfter(days),
    window: { mode: 'runs' },
    extra: {},
  });
}

const dirBytes = (/** @type {string} */ dir) =>
  fs
    .readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile())
    .reduce((sum, e) => sum + fs.statSync(path.join(e.parentPath, e.name)).size, 0);

for (const days of process.argv.slice(2).map(Number)) {
  const calls = 200;
  let built = build(days); // warm
  const times = [];
  for (let i = 0; i < calls; i += 1) {
    const started = performance.now();
    built = build(days);
    times.push(performance.now() - started);
  }
  // The median call: a collection or another process's burst on a shared machine hits a few calls, not the figure.
  const buildMs = times.sort((a, b) => a - b)[calls >> 1];
  if (built.parameters.runs.length !== days) throw new Error(`${days} days built ${built.parameters.runs.length} runs`);
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'rehearse-bench-window-'));
  try {
    const bundle = path.join(work, '20261126T013217Z');
    fs.cpSync(path.join(repo, 'fixtures/bundles/complete'), bundle, { recursive: true });
    /** @type {{ steps: { data?: { parameters?: unknown } }[] }} */
    const summary = JSON.parse(fs.readFileSync(path.join(bundle, 'summary.json'), 'utf8'));
    const runStep = summary.steps.find((s) => s.data?.parameters);
    if (!runStep?.data) throw new Error('fixtures/bundles/complete has no step with parameters');
    runStep.data.parameters = built.parameters;
    fs.writeFileSync(path.join(bundle, 'summary.json'), `${JSON.stringify(summary, null, 2)}\n`);
    const runs = metadata.map((run) => ({ ...run, parameters: { ...run.parameters, ...built.parameters } }));
    fs.writeFileSync(path.join(bundle, 'metadata.json'), `${JSON.stringify(runs, null, 2)}\n`);
    const report = await buildReport(bundle, summary);
    fs.writeFileSync(path.join(bundle, 'report.html'), report.html);
    const screenshotBytes = fs.statSync(path.join(bundle, 'hotpass-e2e-staging.png')).size;
    process.stdout.write(
      `${JSON.stringify({
        days,
        buildMs,
        parameterBytes: Buffer.byteLength(JSON.stringify(built.parameters)),
        bundleBytes: dirBytes(bundle) - screenshotBytes,
        reportBytes: Buffer.byteLength(report.html) - Math.ceil(screenshotBytes / 3) * 4,
      })}\n`,
    );
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}
