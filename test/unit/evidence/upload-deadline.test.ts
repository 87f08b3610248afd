import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isRehearseError, type RehearseError } from '../../../src/errors.js';
import { type BundleFile, parseUploadTarget, uploadBundle, verifyRemote } from '../../../src/evidence/upload.js';

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

async function failureOf(work: Promise<unknown>): Promise<{ error: RehearseError; ms: number }> {
  const started = Date.now();
  const error = await work.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  if (!isRehearseError(error)) throw new Error(`expected a RehearseError, got ${String(error)}`);
  return { error, ms: Date.now() - started };
}

describe('an S3 endpoint that accepts and never answers', () => {
  it('ends the upload with TIMEOUT (exit 3) naming the endpoint and the time allowed, within it plus a little', async () => {
    const target = parseUploadTarget('s3://evidence/staging', { endpoint: silent.endpoint });
    const { error, ms } = await failureOf(
      uploadBundle({ bundleDir: dir, bundleName: 'B', files, target, env: ENV, timeoutMs: 1500 }),
    );
    expect([error.code, error.exitCode, error.message]).toEqual([
      'TIMEOUT',
      3,
      `upload to S3 at ${silent.endpoint} did not finish within 1.5 s`,
    ]);
    expect(error.hint).toContain('timeouts.uploadSeconds');
    expect(silent.connections()).toBeGreaterThan(0);
    expect(ms).toBeGreaterThanOrEqual(1400);
    expect(ms).toBeLessThan(4500);
  });

  it('names the time the whole budget allowed, not what was left of it', async () => {
    const target = parseUploadTarget('s3://evidence', { endpoint: silent.endpoint });
    const { error } = await failureOf(
      verifyRemote({ bundleName: 'B', files, target, env: ENV, timeoutMs: 300, allowedMs: 300_000 }),
    );
    expect(error.message).toBe(`upload to S3 at ${silent.endpoint} did not finish within 300 s`);
  });

  it('ends at once when rehearse is interrupted, long before its deadline', async () => {
    const target = parseUploadTarget('s3://evidence/staging', { endpoint: silent.endpoint });
    const controller = new AbortController();
    const upload = uploadBundle({
      bundleDir: dir,
      bundleName: 'B',
      files,
      target,
      env: ENV,
      signal: controller.signal,
      timeoutMs: 60_000,
    });
    const deadline = Date.now() + 5_000;
    while (silent.connections() === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    controller.abort();
    const { error, ms } = await failureOf(upload);
    expect([error.code, error.exitCode, error.message]).toEqual([
      'INTERRUPTED',
      3,
      `upload to S3 at ${silent.endpoint} interrupted before it finished`,
    ]);
    expect(ms).toBeLessThan(1000);
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
