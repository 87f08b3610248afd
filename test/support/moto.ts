import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { freePort } from '../../src/sandbox/ports.js';

export interface MotoServer {
  endpoint: string;
  stop(): Promise<void>;
}

const SERVICES_DIR = fileURLToPath(new URL('../services', import.meta.url));

/**
 * Starts a real moto S3 server on 127.0.0.1 from the uv project in test/services.
 * The first start may take a while: uv installs the locked environment.
 */
export async function startMoto(options: { timeoutMs?: number } = {}): Promise<MotoServer> {
  const timeoutMs = options.timeoutMs ?? 90_000; // three tries fit in a hook's 300 s
  let lastError: unknown;
  // The free port is only free when we look: another process may take it before moto binds, so try again.
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      return await startOnce(await freePort(), timeoutMs);
    } catch (error) {
      lastError = error;
    }
  }
  throw lastError;
}

async function startOnce(port: number, timeoutMs: number): Promise<MotoServer> {
  const child = spawn(
    'uv',
    ['run', '--locked', '--project', SERVICES_DIR, 'moto_server', '-H', '127.0.0.1', '-p', String(port)],
    {
      // Own process group, so stop() reaches uv and the python it starts.
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, UV_PYTHON_DOWNLOADS: 'never' },
    },
  );
  let output = '';
  // moto logs every request; the pipes must be drained or it blocks once they fill.
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString('utf8')).slice(-4000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<string>((resolve) => {
    child.once('exit', (code, signal) => resolve(`exited (${signal ?? code})`));
    child.once('error', (error) => resolve(`failed to start: ${error.message}`));
  });
  let gone: string | undefined;
  void exited.then((why) => {
    gone = why;
  });
  const killOnExit = () => killGroup(child, 'SIGKILL');
  process.once('exit', killOnExit);
  const server: MotoServer = {
    endpoint: `http://127.0.0.1:${port}`,
    async stop() {
      process.removeListener('exit', killOnExit);
      killGroup(child, 'SIGTERM');
      const deadline = Date.now() + 5_000;
      while (groupAlive(child) && Date.now() < deadline) await sleep(50);
      killGroup(child, 'SIGKILL');
    },
  };
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (gone) break;
    try {
      await fetch(`${server.endpoint}/`, { signal: AbortSignal.timeout(1_000) });
      return server;
    } catch {
      await sleep(100);
    }
  }
  await server.stop();
  throw new Error(
    `moto server on port ${port} ${gone ?? `did not answer within ${timeoutMs} ms`}; its output:\n${output}`,
  );
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // ESRCH: the group is already gone.
  }
}

function groupAlive(child: ChildProcess): boolean {
  if (child.pid === undefined) return false;
  try {
    process.kill(-child.pid, 0);
    return true;
  } catch {
    return false;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A client of the moto server, with the given bucket already created: what every S3 test starts from. */
export async function clientWithBucket(
  moto: MotoServer,
  bucket: string,
): Promise<import('@aws-sdk/client-s3').S3Client> {
  const { CreateBucketCommand, S3Client } = await import('@aws-sdk/client-s3');
  const s3 = new S3Client({
    endpoint: moto.endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
  });
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  return s3;
}
