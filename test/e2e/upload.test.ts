import { spawn } from 'node:child_process';
import { createServer, type Server, type Socket } from 'node:net';
import path from 'node:path';
import { HeadObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { execa } from 'execa';
import fs from 'fs-extra';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { clientWithBucket, type MotoServer, startMoto } from '../support/moto.js';
import { waitFor } from '../support/wait.js';
import { repo, workspace } from './support.js';

/** A real, complete, passing bundle made by `rehearse backfill --sandbox --burst 3`. */
const FIXTURE = path.join(repo, 'fixtures/bundles/complete');
const NAME = '20261126T013217Z';
const BIN = path.join(repo, 'bin/rehearse.js');
const CREDENTIALS = { AWS_ACCESS_KEY_ID: 'testing', AWS_SECRET_ACCESS_KEY: 'testing', AWS_REGION: 'us-east-1' };

/** The environment of an operator who never set PREFECT_API_URL: `rehearse upload` must not need it. */
function operatorEnv(extra: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (value !== undefined && !/^(PREFECT_|AWS_)/.test(key)) env[key] = value;
  }
  return { ...env, CI: '1', ...extra };
}

let cwd: string;
let bundle: string;
beforeEach(async () => {
  cwd = await workspace();
  bundle = path.join(cwd, 'dist/staging/backfill', NAME);
  await fs.copy(FIXTURE, bundle);
});
afterEach(async () => {
  await fs.remove(cwd);
});

const upload = (to: string, env: Record<string, string>) =>
  execa('node', [BIN, 'upload', '--bundle', bundle, '--to', to, '--json'], {
    cwd,
    env: operatorEnv(env),
    extendEnv: false,
    reject: false,
    timeout: 120_000,
  });
const verify = () =>
  execa('node', [BIN, 'verify', bundle], { cwd, env: operatorEnv({}), extendEnv: false, reject: false });

describe('rehearse upload to S3 (moto), with no Prefect anywhere', () => {
  let moto: MotoServer;
  let s3: S3Client;
  beforeAll(async () => {
    moto = await startMoto();
    s3 = await clientWithBucket(moto, 'evidence');
  });
  afterAll(async () => {
    s3?.destroy();
    await moto?.stop();
  }, 30_000);

  const farObjects = async (prefix: string) => {
    const listed = await s3.send(new ListObjectsV2Command({ Bucket: 'evidence', Prefix: prefix }));
    const keys = (listed.Contents ?? []).map((o) => o.Key!).sort();
    return Promise.all(
      keys.map(async (Key) => {
        const head = await s3.send(new HeadObjectCommand({ Bucket: 'evidence', Key }));
        return { Key, etag: head.ETag, modified: head.LastModified?.toISOString() };
      }),
    );
  };

  it('uploads as the README says, logs the target, and on a rerun sends nothing and rewrites nothing', async () => {
    const env = { ...CREDENTIALS, AWS_ENDPOINT_URL: moto.endpoint };
    const first = await upload('s3://evidence/staging/backfill', env);
    expect(first.stderr).not.toMatch(/NodeVersionSupportWarning|PREFECT_API_URL/);
    expect(first.exitCode, first.stdout).toBe(0);
    const result = JSON.parse(first.stdout) as {
      summary: { status: string; steps: { name: string; status: string }[] };
    };
    expect(result.summary.status).toBe('complete');
    expect(result.summary.steps.find((s) => s.name === 'upload')?.status).toBe('ok');
    const prefix = `staging/backfill/${NAME}/`;
    const sent = await farObjects(prefix);
    const local = (await execa('find', ['.', '-type', 'f'], { cwd: bundle })).stdout
      .split('\n')
      .map((f) => `${prefix}${f.slice(2)}`)
      .sort();
    expect(sent.map((o) => o.Key)).toEqual(local);
    expect(await fs.readFile(path.join(cwd, 'Next_Steps_Log.md'), 'utf8')).toContain(
      `evidence at \`s3://evidence/staging/backfill/${NAME}/\``,
    );
    expect((await verify()).exitCode).toBe(0);

    const localBefore = await fs.readFile(path.join(bundle, 'summary.json'), 'utf8');
    // Far-side timestamps have one-second resolution.
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    const rerun = await upload('s3://evidence/staging/backfill', env);
    expect(rerun.exitCode, rerun.stdout).toBe(0);
    expect(JSON.parse(rerun.stdout).lines).toEqual([
      `nothing sent: all ${local.length} files at s3://evidence/staging/backfill/${NAME}/ already match this bundle`,
    ]);
    expect(await farObjects(prefix)).toEqual(sent);
    expect(await fs.readFile(path.join(bundle, 'summary.json'), 'utf8')).toBe(localBefore);

    // A second target is a second copy: it is sent, and logged beside the first.
    const second = await upload('s3://evidence/archive', env);
    expect(second.exitCode, second.stdout).toBe(0);
    const log = await fs.readFile(path.join(cwd, 'Next_Steps_Log.md'), 'utf8');
    expect(log.match(/rehearse:upload:/g)).toHaveLength(2);
    expect(log).toContain(`evidence at \`s3://evidence/archive/${NAME}/\``);
    expect(await fs.readFile(path.join(cwd, 'docs/operations/staging-rehearsal-plan.md'), 'utf8')).toContain(
      `](s3://evidence/archive/${NAME}/)`,
    );
  });
});

/** An S3 endpoint that accepts connections and never answers. */
async function startSilent(): Promise<{ endpoint: string; connected: () => boolean; stop(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  let seen = false;
  server.on('connection', () => {
    seen = true;
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    connected: () => seen,
    stop: async () => {
      sockets.forEach((socket) => socket.destroy());
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describe('rehearse upload to an S3 endpoint that never answers', () => {
  let silent: Awaited<ReturnType<typeof startSilent>>;
  beforeEach(async () => {
    silent = await startSilent();
  });
  afterEach(async () => {
    await silent.stop();
  });

  it('exits 3 within timeouts.uploadSeconds plus a few seconds, naming the endpoint, and fails the upload row', async () => {
    await fs.writeJson(path.join(cwd, 'rehearse.config.json'), { timeouts: { uploadSeconds: 4 } });
    const started = Date.now();
    const run = await upload('s3://evidence/staging', { ...CREDENTIALS, AWS_ENDPOINT_URL: silent.endpoint });
    const seconds = (Date.now() - started) / 1000;
    expect(run.exitCode, run.stdout + run.stderr).toBe(3);
    expect(seconds).toBeGreaterThanOrEqual(4);
    // Bounded, not timed: the up-to-date check's own budget (min(30 s, uploadSeconds)) and the upload's 4 s,
    // with room that slowness alone cannot use up; a hang would take minutes.
    expect(seconds).toBeLessThan(4 + 4 + 30);
    const result = JSON.parse(run.stdout) as {
      error: { code: string; message: string };
      summary: { status: string; steps: { name: string; status: string; verdict: string }[] };
    };
    expect(result.error).toMatchObject({
      code: 'TIMEOUT',
      message: `upload to S3 at ${silent.endpoint} did not finish within 4 s`,
    });
    expect(result.summary.steps.find((s) => s.name === 'upload')).toMatchObject({ status: 'error', verdict: 'error' });
    expect(result.summary.status).toBe('complete');
    expect((await verify()).exitCode).toBe(0);
  });

  it('ends promptly with exit 3 on SIGTERM, the bundle intact', async () => {
    const child = spawn('node', [BIN, 'upload', '--bundle', bundle, '--to', 's3://evidence/staging', '--json'], {
      cwd,
      env: operatorEnv({ ...CREDENTIALS, AWS_ENDPOINT_URL: silent.endpoint }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString('utf8');
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    await waitFor('the upload to connect', 120_000, async () => (silent.connected() ? true : undefined), 50);
    child.kill('SIGTERM');
    const code = await exited;
    expect(code).toBe(3);
    // INTERRUPTED, not TIMEOUT: the signal ended it, long before the upload's own deadline (timeouts.uploadSeconds).
    expect(JSON.parse(stdout).error?.code).toBe('INTERRUPTED');
    const summary = (await fs.readJson(path.join(bundle, 'summary.json'))) as { status: string; verdict: string };
    expect([summary.status, summary.verdict]).toEqual(['complete', 'pass']);
    expect((await verify()).exitCode).toBe(0);
  });
});
