import { createHash } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { S3Client } from '@aws-sdk/client-s3';
import { isUnsummed, sha256OfFile, walkEntries } from '../bundle/checksums.js';
import { messageOf, RehearseError } from '../errors.js';
import { copyFileAtomic } from '../util/atomic-write.js';
import type { Clock } from '../util/clock.js';
import { mapLimited } from '../util/map-limited.js';

export interface BundleFile {
  path: string;
  sha256: string;
  bytes: number;
}
export type UploadTarget =
  | { kind: 'dir'; path: string }
  | { kind: 's3'; bucket: string; prefix: string; endpoint?: string; region?: string; forcePathStyle?: boolean };
interface UploadFileResult {
  path: string;
  action: 'uploaded' | 'skipped-identical';
  verified: boolean;
  remoteSha256?: string;
  problem?: string;
}
export interface UploadReport {
  target: string;
  destination: string;
  files: UploadFileResult[];
  /** The bundle-relative paths actually sent, in bundle order. */
  sent: string[];
  uploaded: number;
  skipped: number;
  verified: number;
  mismatches: { path: string; expected: string; found: string | null }[];
  /** Far-side files (or objects) under the bundle that it does not list: `verify` on the far copy names them unlisted. */
  unlisted: string[];
}

/** What a check of the far copy found: files that differ or are missing, and files the bundle does not list. */
export type RemoteCheck = Pick<UploadReport, 'mismatches' | 'unlisted'>;

const BUCKET_NAME = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

export function parseUploadTarget(to: string, opts: { endpoint?: string; region?: string } = {}): UploadTarget {
  const trimmed = to.trim();
  if (trimmed === '')
    throw new RehearseError('USAGE', 'upload target is empty: pass --to s3://bucket/prefix or a directory');
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(trimmed)?.[1]?.toLowerCase();
  if (scheme === 'file') return { kind: 'dir', path: fileURLToPath(trimmed) };
  if (scheme === undefined) return { kind: 'dir', path: path.resolve(trimmed) };
  if (scheme !== 's3') {
    throw new RehearseError(
      'USAGE',
      `upload target '${to}' uses an unsupported scheme '${scheme}://': use s3://bucket/prefix or a directory`,
    );
  }
  const [bucket = '', ...rest] = trimmed.slice('s3://'.length).split('/');
  if (bucket === '') throw new RehearseError('USAGE', `upload target '${to}' has no bucket: use s3://bucket/prefix`);
  if (!BUCKET_NAME.test(bucket)) {
    throw new RehearseError(
      'USAGE',
      `upload target '${to}' has an invalid bucket name '${bucket}': use 3-63 lowercase letters, digits, dots or hyphens`,
    );
  }
  return {
    kind: 's3',
    bucket,
    prefix: joinKey(...rest),
    ...(opts.endpoint ? { endpoint: opts.endpoint, forcePathStyle: true } : {}),
    ...(opts.region ? { region: opts.region } : {}),
  };
}

/** The caller's abort signal and a deadline of our own over one whole upload or check, retries included. */
export interface UploadLimits {
  signal?: AbortSignal;
  timeoutMs?: number;
  /** The time the message names, when the budget began before this call (default: timeoutMs). */
  allowedMs?: number;
  /** The time the deadline is measured in (default: the system's, as an AbortSignal.timeout). */
  clock?: Clock;
}

/** One file to the far side unless an identical copy is there, then read back and compared. */
async function sendFile(far: FarSide, bundleDir: string, file: BundleFile): Promise<UploadFileResult> {
  const expected = expectedOf(file);
  const before = await far.hash(file.path);
  if (before === expected)
    return { path: file.path, action: 'skipped-identical', verified: true, remoteSha256: before };
  await far.put(file.path, path.join(bundleDir, ...file.path.split('/')), file);
  const after = await far.hash(file.path);
  const verified = after === expected;
  return {
    path: file.path,
    action: 'uploaded',
    verified,
    ...(after === null ? {} : { remoteSha256: after }),
    ...(verified
      ? {}
      : {
          problem:
            after === null ? 'missing on the far side after upload' : `far side has sha256 ${after} after upload`,
        }),
  };
}

export async function uploadBundle(
  options: {
    bundleDir: string;
    bundleName: string;
    files: BundleFile[];
    target: UploadTarget;
    env?: NodeJS.ProcessEnv;
    concurrency?: number;
  } & UploadLimits,
): Promise<UploadReport> {
  const { bundleDir, files } = options;
  const limit = Math.max(1, options.concurrency ?? 4);
  checkNames(options.bundleName, files);
  // A local file that no longer matches its manifest would leave a far side that never verifies: stop before touching it.
  const drifted = (
    await mapLimited(files, limit, async (file) =>
      (await localHash(bundleDir, file)) === expectedOf(file) ? null : file.path,
    )
  ).filter((p): p is string => p !== null);
  if (drifted.length > 0) {
    throw new RehearseError(
      'BUNDLE_INVALID',
      `bundle files changed since they were hashed: ${drifted.join(', ')}: rebuild the bundle before uploading`,
    );
  }
  return withFarSide(options, async (far) => {
    await far.check(true);
    const results = await mapLimited(files, limit, (file) => sendFile(far, bundleDir, file));
    return {
      target: far.target,
      destination: far.destination,
      files: results,
      sent: results.filter((r) => r.action === 'uploaded').map((r) => r.path),
      uploaded: results.filter((r) => r.action === 'uploaded').length,
      skipped: results.filter((r) => r.action === 'skipped-identical').length,
      verified: results.filter((r) => r.verified).length,
      mismatches: files.flatMap((file, i) =>
        results[i]?.verified
          ? []
          : [{ path: file.path, expected: expectedOf(file), found: results[i]?.remoteSha256 ?? null }],
      ),
      unlisted: await unlistedOn(far, files),
    };
  });
}

/** What is on the far side under the bundle and not among its files, as `verify` would find it there (links too). */
async function unlistedOn(far: FarSide, files: readonly BundleFile[]): Promise<string[]> {
  const listed = new Set(files.map((f) => f.path));
  return (await far.list())
    .filter((entry) => !listed.has(entry.path) && !(entry.regular && isUnsummed(entry.path)))
    .map((entry) => entry.path)
    .sort();
}

/** Downloads and hashes every far-side file (metadata is never trusted), and lists what else is there. */
export async function verifyRemote(
  options: {
    bundleName: string;
    files: BundleFile[];
    target: UploadTarget;
    env?: NodeJS.ProcessEnv;
  } & UploadLimits,
): Promise<RemoteCheck> {
  checkNames(options.bundleName, options.files);
  return withFarSide(options, async (far) => {
    await far.check(false);
    const found = await mapLimited(options.files, 4, (file) => far.hash(file.path));
    const mismatches = options.files.flatMap((file, i) => {
      const expected = expectedOf(file);
      const sha = found[i] ?? null;
      return sha === expected ? [] : [{ path: file.path, expected, found: sha }];
    });
    return { mismatches, unlisted: await unlistedOn(far, options.files) };
  });
}

/** Opens the far side under one deadline, does the work, and closes both whatever happens. */
async function withFarSide<T>(
  options: { target: UploadTarget; bundleName: string; env?: NodeJS.ProcessEnv } & UploadLimits,
  work: (far: FarSide) => Promise<T>,
): Promise<T> {
  const deadline = openDeadline(options);
  try {
    const far = await openFarSide(options.target, options.bundleName, options.env ?? process.env, deadline);
    try {
      return await work(far);
    } finally {
      far.close();
    }
  } finally {
    deadline.close();
  }
}

interface FarSide {
  target: string;
  destination: string;
  check(forWrite: boolean): Promise<void>;
  hash(rel: string): Promise<string | null>;
  put(rel: string, local: string, file: BundleFile): Promise<void>;
  /** Everything under the bundle's place on the far side; `regular` is false for a link, FIFO or device. */
  list(): Promise<{ path: string; regular: boolean }[]>;
  close(): void;
}

/** One signal for every call of an upload, and the error that says which of the two ended it. */
interface Deadline {
  signal: AbortSignal;
  /** The error to report when the signal fired, naming where and after how long; undefined while it has not. */
  failure(where: string): RehearseError | undefined;
  /** Stops the deadline's wait once the work is over. */
  close(): void;
}

/** The deadline's own signal: AbortSignal.timeout, or a wait on the injected clock that close() ends. */
function deadlineTimer(limits: UploadLimits, closed: AbortSignal): AbortSignal | undefined {
  const { timeoutMs, clock } = limits;
  if (timeoutMs === undefined) return undefined;
  if (!clock) return AbortSignal.timeout(timeoutMs);
  const timer = new AbortController();
  void clock.sleep(timeoutMs, closed).then(() => {
    if (!closed.aborted) timer.abort(new DOMException('the upload deadline passed', 'TimeoutError'));
  });
  return timer.signal;
}

function openDeadline(limits: UploadLimits): Deadline {
  const closing = new AbortController();
  const timer = deadlineTimer(limits, closing.signal);
  const signals = [limits.signal, timer].filter((s): s is AbortSignal => s !== undefined);
  const signal = signals.length === 1 ? signals[0]! : AbortSignal.any(signals);
  return {
    signal,
    failure(where) {
      if (limits.signal?.aborted)
        return new RehearseError('INTERRUPTED', `upload to ${where} interrupted before it finished`);
      if (!timer?.aborted) return undefined;
      const seconds = Math.round((limits.allowedMs ?? limits.timeoutMs ?? 0) / 100) / 10;
      return new RehearseError('TIMEOUT', `upload to ${where} did not finish within ${seconds} s`, {
        hint: 'check that the endpoint answers (AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL or upload.endpoint), or raise timeouts.uploadSeconds',
      });
    },
    close: () => closing.abort(),
  };
}

/** Settles with `work`, or rejects as soon as the signal fires, whatever the work does about it. */
function raceAbort<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) {
    // The work is dropped, but a rejection of its own later must not go unhandled.
    work.catch(() => undefined);
    return Promise.reject(signal.reason as Error);
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

async function openFarSide(
  target: UploadTarget,
  bundleName: string,
  env: NodeJS.ProcessEnv,
  deadline: Deadline,
): Promise<FarSide> {
  return target.kind === 'dir'
    ? dirFarSide(target.path, bundleName, deadline)
    : s3FarSide(target, bundleName, env, deadline);
}

// long: one adapter, five short methods (check, hash, put, list, close) over one directory and deadline; apart, each would take them as arguments
function dirFarSide(dir: string, bundleName: string, deadline: Deadline): FarSide {
  const stopIfEnded = () => {
    const failure = deadline.failure(dir);
    if (failure) throw failure;
  };
  const root = path.join(dir, bundleName);
  const at = (rel: string) => path.join(root, ...rel.split('/'));
  return {
    target: dir,
    destination: root,
    async check(forWrite) {
      if (!forWrite) return;
      await mkdir(root, { recursive: true }).catch((error: NodeJS.ErrnoException) => {
        throw new RehearseError(
          'EVIDENCE_ROOT_UNWRITABLE',
          `cannot create ${root} (${error.code ?? messageOf(error)}): choose a writable --to directory`,
        );
      });
    },
    async hash(rel) {
      stopIfEnded();
      try {
        return await sha256OfFile(at(rel));
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code === 'ENOENT' || code === 'ENOTDIR') return null;
        throw new RehearseError(
          'EVIDENCE_ROOT_UNWRITABLE',
          `cannot read ${at(rel)} (${code ?? messageOf(error)}): check the --to directory`,
        );
      }
    },
    async put(rel, local) {
      const dest = at(rel);
      stopIfEnded();
      try {
        await copyFileAtomic(local, dest);
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code ?? messageOf(error);
        throw new RehearseError(
          'EVIDENCE_ROOT_UNWRITABLE',
          `cannot write ${dest} (${code}): choose a writable --to directory`,
        );
      }
    },
    async list() {
      stopIfEnded();
      try {
        return (await walkEntries(root)).map(({ rel, entry }) => ({ path: rel, regular: entry.isFile() }));
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code === 'ENOENT' || code === 'ENOTDIR') return [];
        throw new RehearseError(
          'EVIDENCE_ROOT_UNWRITABLE',
          `cannot list ${root} (${code ?? String(error)}): check the --to directory`,
        );
      }
    },
    close() {},
  };
}

function createS3Client(
  s3: typeof import('@aws-sdk/client-s3'),
  target: Extract<UploadTarget, { kind: 's3' }>,
  env: NodeJS.ProcessEnv,
): { client: S3Client; endpoint: string | undefined; region: string } {
  const endpoint = target.endpoint || env.AWS_ENDPOINT_URL_S3 || env.AWS_ENDPOINT_URL || undefined;
  const region = target.region || env.AWS_REGION || env.AWS_DEFAULT_REGION || 'us-east-1';
  const {
    AWS_ACCESS_KEY_ID: accessKeyId,
    AWS_SECRET_ACCESS_KEY: secretAccessKey,
    AWS_SESSION_TOKEN: sessionToken,
  } = env;
  const client: S3Client = new s3.S3Client({
    region,
    ...(endpoint ? { endpoint } : {}),
    forcePathStyle: target.forcePathStyle ?? endpoint !== undefined,
    // Without keys in the environment, the SDK's own chain (profiles, SSO, instance roles) decides.
    ...(accessKeyId && secretAccessKey
      ? { credentials: { accessKeyId, secretAccessKey, ...(sessionToken ? { sessionToken } : {}) } }
      : {}),
    maxAttempts: 3,
    requestHandler: { connectionTimeout: 10_000, requestTimeout: 120_000 },
  });
  return { client, endpoint, region };
}

// long: one adapter, five short methods over one S3 client, bucket, key prefix and deadline-bounded send; apart, each would take all four
async function s3FarSide(
  target: Extract<UploadTarget, { kind: 's3' }>,
  bundleName: string,
  env: NodeJS.ProcessEnv,
  deadline: Deadline,
): Promise<FarSide> {
  // The SDK's documented switch for its notice that later releases will need a newer Node; it reads only process.env.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const s3 = await import('@aws-sdk/client-s3');
  const { client, endpoint, region } = createS3Client(s3, target, env);
  const bucket = target.bucket;
  const base = joinKey(target.prefix, bundleName);
  const ctx = { bucket, where: endpoint ?? `AWS S3 (${region})`, region, deadline };
  const url = (key: string) => `s3://${bucket}/${key}`;
  const abortSignal = deadline.signal;
  // The SDK's own request timeout only warns, so our signal bounds every request, its retries and its body.
  const bounded = <T>(work: Promise<T>): Promise<T> => raceAbort(work, abortSignal);
  return {
    target: `s3://${joinKey(bucket, target.prefix)}`,
    destination: `${url(base)}/`,
    async check() {
      await bounded(client.send(new s3.HeadBucketCommand({ Bucket: bucket }), { abortSignal })).catch(
        (error: unknown) => {
          throw s3Failure(error, 'check bucket', url(target.prefix), ctx);
        },
      );
    },
    async hash(rel) {
      const key = joinKey(base, rel);
      try {
        const object = await bounded(
          client.send(new s3.GetObjectCommand({ Bucket: bucket, Key: key }), { abortSignal }),
        );
        const hash = createHash('sha256');
        const body = object.Body as (AsyncIterable<Uint8Array> & { destroy?: () => void }) | undefined;
        if (body) {
          const drain = async () => {
            for await (const chunk of body) hash.update(chunk);
          };
          await bounded(drain()).catch((error: unknown) => {
            body.destroy?.();
            throw error;
          });
        }
        return hash.digest('hex');
      } catch (error) {
        if ((error as { name?: string }).name === 'NoSuchKey') return null;
        throw s3Failure(error, 'download', url(key), ctx);
      }
    },
    async put(rel, local, file) {
      const key = joinKey(base, rel);
      // A Buffer rather than a stream: the SDK can only retry a request whose body it can replay. Bundles are small.
      const body = await readFile(local);
      await bounded(
        client.send(
          new s3.PutObjectCommand({
            Bucket: bucket,
            Key: key,
            Body: body,
            ContentLength: body.length,
            ContentType: contentTypeOf(rel),
            Metadata: { sha256: expectedOf(file) },
            ChecksumAlgorithm: 'SHA256',
          }),
          { abortSignal },
        ),
      ).catch((error: unknown) => {
        throw s3Failure(error, 'upload', url(key), ctx);
      });
    },
    list: () =>
      listObjects(s3, client, bucket, `${base}/`, bounded, abortSignal).catch((error: unknown) => {
        throw s3Failure(error, 'list', url(`${base}/`), ctx);
      }),
    close() {
      client.destroy();
    },
  };
}

/** Every object under a prefix, page by page, as paths below it. */
async function listObjects(
  s3: typeof import('@aws-sdk/client-s3'),
  client: S3Client,
  bucket: string,
  under: string,
  bounded: <T>(work: Promise<T>) => Promise<T>,
  abortSignal: AbortSignal,
): Promise<{ path: string; regular: boolean }[]> {
  const keys: { path: string; regular: boolean }[] = [];
  let token: string | undefined;
  do {
    const page = await bounded(
      client.send(
        new s3.ListObjectsV2Command({ Bucket: bucket, Prefix: under, ...(token ? { ContinuationToken: token } : {}) }),
        { abortSignal },
      ),
    );
    for (const object of page.Contents ?? [])
      if (object.Key) keys.push({ path: object.Key.slice(under.length), regular: true });
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return keys;
}

function joinKey(...parts: string[]): string {
  return parts
    .flatMap((part) => part.split('/'))
    .filter((segment) => segment !== '')
    .join('/');
}

function expectedOf(file: BundleFile): string {
  return file.sha256.toLowerCase();
}

async function localHash(bundleDir: string, file: BundleFile): Promise<string> {
  const local = path.join(bundleDir, ...file.path.split('/'));
  return sha256OfFile(local).catch((error: NodeJS.ErrnoException) => {
    throw new RehearseError(
      'BUNDLE_INVALID',
      `bundle file ${local} cannot be read (${error.code ?? messageOf(error)}): rebuild the bundle`,
    );
  });
}

function checkNames(bundleName: string, files: BundleFile[]): void {
  const bad = (segment: string) => segment === '' || segment === '.' || segment === '..' || segment.includes('\\');
  if (bundleName.includes('/') || bad(bundleName))
    throw new RehearseError('BUNDLE_INVALID', `bundle name '${bundleName}' is not a single path segment`);
  for (const file of files) {
    if (file.path.split('/').some(bad)) {
      throw new RehearseError(
        'BUNDLE_INVALID',
        `bundle file path '${file.path}' must be relative with '/' separators and no '.' or '..' segments`,
      );
    }
  }
}

const UNREACHABLE = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'ECONNRESET',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'TimeoutError',
]);

function s3Failure(
  error: unknown,
  what: string,
  url: string,
  ctx: { bucket: string; where: string; region: string; deadline: Deadline },
): RehearseError {
  const ended = ctx.deadline.failure(`S3 at ${ctx.where}`);
  if (ended) return ended;
  const e = error as { name?: string; code?: string; message?: string; $metadata?: { httpStatusCode?: number } };
  const name = e.name ?? 'Error';
  const status = e.$metadata?.httpStatusCode;
  const fail = (code: 'NOT_FOUND' | 'API_ERROR' | 'API_UNREACHABLE', message: string) =>
    new RehearseError(code, message, { cause: error });
  // HeadBucket answers a bare 404 (no body, so no NoSuchBucket code).
  if (name === 'NoSuchBucket' || (status === 404 && what === 'check bucket')) {
    return fail('NOT_FOUND', `bucket '${ctx.bucket}' does not exist at ${ctx.where}: create it or fix --to`);
  }
  if (status === 403 || /AccessDenied|InvalidAccessKeyId|SignatureDoesNotMatch|ExpiredToken/.test(name)) {
    return fail(
      'API_ERROR',
      `access denied to ${url} at ${ctx.where} (${name}): check AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN and the bucket policy`,
    );
  }
  if (status === 301 || name === 'PermanentRedirect' || name === 'AuthorizationHeaderMalformed') {
    return fail(
      'API_ERROR',
      `bucket '${ctx.bucket}' is not in region ${ctx.region}: set AWS_REGION to the bucket's region`,
    );
  }
  if (name === 'CredentialsProviderError') {
    return fail(
      'API_ERROR',
      `no AWS credentials found for ${url}: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE)`,
    );
  }
  if (UNREACHABLE.has(e.code ?? name)) {
    return fail(
      'API_UNREACHABLE',
      `could not reach S3 at ${ctx.where} (${e.code ?? name}): check the endpoint (AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL) and that it is running`,
    );
  }
  return fail(
    'API_ERROR',
    `S3 ${what} of ${url} at ${ctx.where} failed (${name}: ${e.message ?? 'no message'}): check the target and credentials`,
  );
}

// So a browser opens the report from the bucket instead of downloading it.
const CONTENT_TYPES: Record<string, string> = {
  '.json': 'application/json',
  '.html': 'text/html; charset=utf-8',
  '.md': 'text/markdown; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.log': 'text/plain; charset=utf-8',
};
const contentTypeOf = (rel: string) =>
  CONTENT_TYPES[path.posix.extname(rel).toLowerCase()] ?? 'application/octet-stream';
