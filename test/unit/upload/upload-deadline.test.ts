import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Clock } from '../../../src/context.js';
import { isRehearseError, type RehearseError } from '../../../src/errors.js';
import { type BundleFile, parseUploadTarget, uploadBundle, verifyRemote } from '../../../src/upload/targets.js';
import { waitFor } from '../../support/wait.js';

/** An S3 endpoint that takes the connection and never says a word: the hang a firewall or a stuck proxy makes. */
async function startSilentServer(): Promise<{ endpoint: string; connections: () => number; stop(): Promise<void> }> {
  const sockets = new Set<Socket>();
  let accepted = 0;
  const server: Server = createServer((socket) => {
    accepted += 1;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    connections: () => accepted,
    stop: async () => {
      sockets.forEach((socket) => socket.destroy());
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * A clock whose waits end only when the test says the time is up (or their signal aborts): the deadline
 * passes at a moment the test chooses, never because the machine was slow.
 */
function manualClock(): Clock & { waits: number[]; pending: () => number; timeUp: () => void } {
  const waits: number[] = [];
  const wakers = new Set<() => void>();
  return {
    waits,
    pending: () => wakers.size,
    timeUp: () => [...wakers].forEach((wake) => wake()),
    now: () => 0,
    sleep(ms, signal) {
      waits.push(ms);
      return new Promise<void>((resolve) => {
        const wake = (): void => {
          wakers.delete(wake);
          resolve();
        };
        if (signal?.aborted) return resolve();
        wakers.add(wake);
        signal?.addEventListener('abort', wake, { once: true });
      });
    },
  };
}

/** Whether `work` has settled yet, without waiting for it. */
function tracked<T>(work: Promise<T>): { work: Promise<T>; settled: () => boolean } {
  let done = false;
  work.then(
    () => (done = true),
    () => (done = true),
  );
  return { work, settled: () => done };
}

const ENV = { AWS_ACCESS_KEY_ID: 'testing', AWS_SECRET_ACCESS_KEY: 'testing', AWS_REGION: 'us-east-1' };
let dir: string;
let files: BundleFile[];
let silent: Awaited<ReturnType<typeof startSilentServer>>;

beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'rehearse-upload-deadline-'));
  await writeFile(path.join(dir, 'summary.json'), '{}\n');
  files = [{ path: 'summary.json', sha256: createHash('sha256').update('{}\n').digest('hex'), bytes: 3 }];
  silent = await startSilentServer();
});
afterEach(async () => {
  await silent.stop();
  await rm(dir, { recursive: true, force: true });
});

async function failureOf(work: Promise<unknown>): Promise<{ error: RehearseError }> {
  const error = await work.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  if (!isRehearseError(error)) throw new Error(`expected a RehearseError, got ${String(error)}`);
  return { error };
}

/** The silent server has taken the upload's connection: from here only the deadline or an abort can end it. */
const connected = () =>
  waitFor('the upload to connect', 20_000, async () => (silent.connections() > 0 ? true : undefined), 10);

describe('an S3 endpoint that accepts and never answers', () => {
  it('waits while the endpoint is silent, then ends the upload with TIMEOUT (exit 3) when its deadline passes', async () => {
    const target = parseUploadTarget('s3://evidence/staging', { endpoint: silent.endpoint });
    const clock = manualClock();
    const upload = tracked(
      uploadBundle({ bundleDir: dir, bundleName: 'B', files, target, env: ENV, timeoutMs: 1500, clock }),
    );
    await connected();
    expect(clock.waits).toEqual([1500]);
    expect(upload.settled()).toBe(false);
    clock.timeUp();
    const { error } = await failureOf(upload.work);
    expect([error.code, error.exitCode, error.message]).toEqual([
      'TIMEOUT',
      3,
      `upload to S3 at ${silent.endpoint} did not finish within 1.5 s`,
    ]);
    expect(error.hint).toContain('timeouts.uploadSeconds');
  });

  it("stops its deadline's wait once the upload is over", async () => {
    const clock = manualClock();
    const target = parseUploadTarget(path.join(dir, 'far'));
    await uploadBundle({ bundleDir: dir, bundleName: 'B', files, target, timeoutMs: 60_000, clock });
    expect([clock.waits, clock.pending()]).toEqual([[60_000], 0]);
  });

  it('names the time the whole budget allowed, not what was left of it', async () => {
    const target = parseUploadTarget('s3://evidence', { endpoint: silent.endpoint });
    const { error } = await failureOf(
      verifyRemote({ bundleName: 'B', files, target, env: ENV, timeoutMs: 300, allowedMs: 300_000 }),
    );
    expect(error.message).toBe(`upload to S3 at ${silent.endpoint} did not finish within 300 s`);
  });

  it('ends when rehearse is interrupted, with its deadline never passing', async () => {
    const target = parseUploadTarget('s3://evidence/staging', { endpoint: silent.endpoint });
    const controller = new AbortController();
    // The deadline's time is never up: only the interruption can end the upload.
    const clock = manualClock();
    const upload = uploadBundle({
      bundleDir: dir,
      bundleName: 'B',
      files,
      target,
      env: ENV,
      signal: controller.signal,
      timeoutMs: 60_000,
      clock,
    });
    await connected();
    controller.abort();
    const { error } = await failureOf(upload);
    expect([error.code, error.exitCode, error.message]).toEqual([
      'INTERRUPTED',
      3,
      `upload to S3 at ${silent.endpoint} interrupted before it finished`,
    ]);
    expect(clock.pending()).toBe(0);
  });

  it('does not start when already interrupted, for a directory target as well', async () => {
    const controller = new AbortController();
    controller.abort();
    const target = parseUploadTarget(path.join(dir, 'far'));
    const { error } = await failureOf(
      uploadBundle({ bundleDir: dir, bundleName: 'B', files, target, signal: controller.signal }),
    );
    expect(error.code).toBe('INTERRUPTED');
  });
});
