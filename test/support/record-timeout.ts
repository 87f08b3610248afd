import { beforeEach } from 'vitest';

declare module 'vitest' {
  interface TaskMeta {
    /** The timeout the test ran under, in ms: its own or its project's (scripts/slow-tests.js reports it). */
    timeoutMs?: number;
  }
}

// Each test's timeout lands in test-results/vitest.json beside its duration, so the slow-test report
// prints the bound each one had rather than guessing it from the config.
beforeEach(({ task }) => {
  task.meta.timeoutMs = task.timeout;
});
