import { defineConfig } from 'vitest/config';
import LongestFirst from './test/e2e/sequencer.js';
import { E2E_WORKERS } from './test/e2e/workers.js';

export default defineConfig({
  test: {
    // The JSON report is what .ci/run counts; the default reporter is for people.
    reporters: ['default', ['json', { outputFile: 'test-results/vitest.json' }]],
    // The longest e2e and integration files first, so the files side by side end together (test/e2e/sequencer.ts).
    sequence: { sequencer: LongestFirst },
    // Timeouts are bounds for a machine kept busy, never a judgement of speed: each is at least 3x the slowest
    // time seen or estimated under load (scripts/ci-under-load.sh measures it; .ci/run prints the ten slowest
    // tests beside their timeouts). Each test's timeout is recorded in the JSON report (record-timeout.ts).
    projects: [
      {
        // Pure logic over recorded Prefect answers: Node and `npm ci` only (no uv, Chromium or build).
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          setupFiles: ['test/support/record-timeout.ts'],
          // Unit tests mock no module and stub no global (spies are restored after each test), so files
          // can share a worker: a fresh one per file cost ~20 s of start-up, more than the tests themselves.
          pool: 'threads',
          isolate: false,
          // First, while the e2e sandboxes start in the background (test/e2e/global-setup.ts). Vitest keeps a
          // core for itself by default, which on two cores leaves one worker.
          maxWorkers: '100%',
          sequence: { groupOrder: 0 },
          // Generous so a loaded machine cannot fail a test (the slowest takes ~1 s quiet); no test judges time.
          testTimeout: 30_000,
        },
      },
      {
        // Real local services, no Prefect: Chromium, the moto S3 server (through uv), the built CLI.
        test: {
          name: 'integration',
          // Beside e2e, among its files by length (test/e2e/sequencer.ts): short files that fill the cores as the
          // e2e files end. Run before e2e, while its sandboxes started, they held e2e back by 40 s and more (measured).
          sequence: { groupOrder: 1 },
          // Projects that run side by side (one groupOrder) must share one worker count: e2e's.
          maxWorkers: E2E_WORKERS,
          include: ['test/integration/**/*.test.ts'],
          setupFiles: ['test/support/record-timeout.ts'],
          // Starting moto through uv or Chromium takes seconds quiet, well under a minute with both cores busy.
          testTimeout: 300_000,
          hookTimeout: 300_000,
        },
      },
      {
        // A real Prefect server, worker and deployment, driven through the built CLI.
        test: {
          name: 'e2e',
          sequence: { groupOrder: 1 },
          include: ['test/e2e/**/*.test.ts'],
          globalSetup: ['test/e2e/global-setup.ts'],
          setupFiles: ['test/support/record-timeout.ts', 'test/e2e/settle.ts'],
          // Three files at a time, each on a sandbox of its own (test/e2e/workers.ts says why).
          maxWorkers: E2E_WORKERS,
          // One test is at most a few rehearsals (~30 s each quiet, ~2 min with both cores busy), each bounded
          // by the CLI's own --watch-timeout (240 s) and the tests' 600 s on a CLI call, both below this.
          testTimeout: 900_000,
          hookTimeout: 900_000,
        },
      },
    ],
  },
});
