import { createServer, type Server, type Socket } from 'node:net';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { writeChecksumManifest } from '../../../../src/bundle/bundle.js';
import { newSummary } from '../../../../src/bundle/summary-io.js';
import type { RehearseEvent } from '../../../../src/reporters/events.js';
import { runSteps } from '../../../../src/steps/runner.js';
import { uploadStep } from '../../../../src/steps/upload/upload.js';
import { createTestContext } from '../../../support/context.js';
import { createFakeApi } from '../../../support/fake-api.js';
import { createFakeRunner } from '../../../support/fake-runner.js';
import { createFakeClock, type FakeClock } from '../../support/fake-clock.js';
import { useTempBundle } from '../../support/step-context.js';

const NOW = new Date('2026-11-26T02:00:00Z');
const ENV = { AWS_ACCESS_KEY_ID: 'testing', AWS_SECRET_ACCESS_KEY: 'testing', AWS_REGION: 'us-east-1' };
const temp = useTempBundle('rehearse-upload-waiting-', NOW);

/** An S3 endpoint that takes the connection and never says a word. */
let server: Server;
let endpoint: string;
const sockets = new Set<Socket>();
// Loaded before the clock is simulated: a slow first import would otherwise pass as minutes of simulated waiting.
beforeAll(async () => {
  await import('@aws-sdk/client-s3');
});
beforeEach(async () => {
  server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  endpoint = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
});
afterEach(async () => {
  sockets.forEach((socket) => socket.destroy());
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

/** The upload step's context on simulated time: its waits and its budget pass at once in real time. */
function contextOn(clock: FakeClock) {
  const base = createTestContext({
    runner: createFakeRunner([]),
    api: createFakeApi({}),
    config: { upload: { endpoint }, timeouts: { uploadSeconds: 300 } },
    env: ENV,
  });
  return { ctx: { ...base, clock, now: () => new Date(clock.now()) }, reporter: base.reporter };
}

const waitingLines = (events: RehearseEvent[]): string[] =>
  events.flatMap((e) => (e.type === 'waiting' ? [e.message] : []));

describe('an upload to an S3 endpoint that never answers', () => {
  it('says every 15 s how long it has waited, and records the 300 s it took', async () => {
    const clock = createFakeClock(NOW.getTime());
    const { ctx, reporter } = contextOn(clock);
    const step = uploadStep({ to: 's3://evidence/staging' });
    const outcome = await runSteps(ctx, temp.bundle, [step], newSummary(temp.bundle, NOW, {}), {
      wholeRehearsal: false,
    });
    expect(outcome.error?.code).toBe('TIMEOUT');
    expect(outcome.error?.message).toContain('did not finish within 300 s');
    // In simulated time: the budget of 300 s, and the little the client still did once it had run out.
    const record = outcome.summary.steps.find((s) => s.name === 'upload');
    expect(record?.durationMs).toBeGreaterThanOrEqual(300_000);
    const lines = waitingLines(reporter.events);
    expect(lines[0]).toBe(
      `uploading to s3://evidence/staging/${temp.bundle.name}/: waiting 15 s so far (gives up after 300 s)`,
    );
    expect(lines[1]).toContain('waiting 30 s so far');
    expect(lines.length).toBeGreaterThanOrEqual(19);
  });

  it('checks the far copy before a step by hand within 30 s, leaving the step its own 300 s', async () => {
    const clock = createFakeClock(NOW.getTime());
    const { ctx, reporter } = contextOn(clock);
    const step = uploadStep({ to: 's3://evidence/staging' });
    const summary = newSummary(temp.bundle, NOW, {});
    await writeChecksumManifest(temp.bundle);
    expect(await step.upToDate(ctx, temp.bundle, summary)).toBeUndefined();
    const checked = clock.now() - NOW.getTime();
    expect(checked).toBeGreaterThanOrEqual(30_000);
    expect(checked).toBeLessThan(300_000);
    expect(waitingLines(reporter.events)[0]).toContain('checking the copy at s3://evidence/staging/');
    const outcome = await runSteps(ctx, temp.bundle, [step], summary, { wholeRehearsal: false });
    expect(outcome.error?.message).toContain('did not finish within 300 s');
    expect(outcome.summary.steps.find((s) => s.name === 'upload')?.durationMs).toBeGreaterThanOrEqual(300_000);
  });
});
