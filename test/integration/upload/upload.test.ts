import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256OfFile } from '../../../src/bundle/checksums.js';
import {
  type BundleFile,
  parseUploadTarget,
  type UploadTarget,
  uploadBundle,
  verifyRemote,
} from '../../../src/upload/targets.js';
import { clientWithBucket, type MotoServer, startMoto } from '../../support/moto.js';

const BUNDLE = 'rehearsal-2026-01-01T00-00-00Z';
const CONTENTS: Record<string, Buffer> = {
  'manifest.json': Buffer.from('{"schema":1,"verdict":"pass"}\n'),
  'report.md': Buffer.from('# Guardrail rehearsal\n\nAll guardrails held.\n'),
  'logs/run.log': Buffer.concat([Buffer.from('line 1\n'), Buffer.from([0, 1, 2, 250, 255]), Buffer.alloc(70_000, 'x')]),
};

const sha = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');
const flipOneByte = (bytes: Buffer) => {
  const copy = Buffer.from(bytes);
  copy[3] = copy[3]! ^ 0x01;
  return copy;
};

let work: string;
let bundleDir: string;
let files: BundleFile[];

beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'rehearse-upload-'));
  bundleDir = path.join(work, BUNDLE);
  files = [];
  for (const [rel, bytes] of Object.entries(CONTENTS)) {
    await mkdir(path.dirname(path.join(bundleDir, rel)), { recursive: true });
    await writeFile(path.join(bundleDir, rel), bytes);
    files.push({ path: rel, sha256: sha(bytes), bytes: bytes.length });
  }
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('sha256OfFile', () => {
  it('streams a file into the hex SHA-256 digest', async () => {
    const file = path.join(work, 'abc.txt');
    await writeFile(file, 'abc');
    expect(await sha256OfFile(file)).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    expect(await sha256OfFile(path.join(bundleDir, 'logs/run.log'))).toBe(sha(CONTENTS['logs/run.log']!));
  });
});

describe('uploadBundle to a directory', () => {
  it('uploads, skips identical files on rerun, detects and repairs a corrupted far-side file', async () => {
    const target: UploadTarget = { kind: 'dir', path: path.join(work, 'archive') };
    const first = await uploadBundle({ bundleDir, bundleName: BUNDLE, files, target });
    expect(first).toMatchObject({ uploaded: 3, skipped: 0, verified: 3, mismatches: [] });
    expect(first.destination).toBe(path.join(work, 'archive', BUNDLE));
    expect(first.files.map((f) => f.action)).toEqual(['uploaded', 'uploaded', 'uploaded']);
    for (const [rel, bytes] of Object.entries(CONTENTS)) {
      expect((await readFile(path.join(first.destination, rel))).equals(bytes)).toBe(true);
    }
    const inodes = await Promise.all(files.map(async (f) => (await stat(path.join(first.destination, f.path))).ino));

    const rerun = await uploadBundle({ bundleDir, bundleName: BUNDLE, files, target });
    expect(rerun).toMatchObject({ uploaded: 0, skipped: 3, verified: 3, mismatches: [], sent: [] });
    expect(rerun.files.every((f) => f.action === 'skipped-identical' && f.verified)).toBe(true);
    // A rewrite goes through temp + rename, which would give each file a new inode.
    expect(await Promise.all(files.map(async (f) => (await stat(path.join(first.destination, f.path))).ino))).toEqual(
      inodes,
    );

    const corrupted = path.join(first.destination, 'logs', 'run.log');
    await writeFile(corrupted, flipOneByte(CONTENTS['logs/run.log']!));
    expect(await verifyRemote({ bundleName: BUNDLE, files, target })).toEqual({
      mismatches: [
        {
          path: 'logs/run.log',
          expected: sha(CONTENTS['logs/run.log']!),
          found: sha(flipOneByte(CONTENTS['logs/run.log']!)),
        },
      ],
      unlisted: [],
    });

    const repair = await uploadBundle({ bundleDir, bundleName: BUNDLE, files, target });
    expect(repair).toMatchObject({ uploaded: 1, skipped: 2, verified: 3, mismatches: [], sent: ['logs/run.log'] });
    expect(repair.files.find((f) => f.action === 'uploaded')?.path).toBe('logs/run.log');
    expect((await readFile(corrupted)).equals(CONTENTS['logs/run.log']!)).toBe(true);
    expect(await verifyRemote({ bundleName: BUNDLE, files, target })).toEqual({ mismatches: [], unlisted: [] });
  });

  it('names a file planted in the far copy, as verify would, and sends nothing over it', async () => {
    const target: UploadTarget = { kind: 'dir', path: path.join(work, 'planted') };
    await uploadBundle({ bundleDir, bundleName: BUNDLE, files, target });
    const far = path.join(work, 'planted', BUNDLE);
    await writeFile(path.join(far, 'planted.txt'), 'not evidence\n');
    await mkdir(path.join(far, 'logs', 'more'));
    await writeFile(path.join(far, 'logs', 'more', 'x.log'), 'x\n');
    // What verify leaves aside on the far side too: the bundle's lock and a writer's temp file.
    await writeFile(path.join(far, '.rehearse.lock'), '{}\n');
    const again = await uploadBundle({ bundleDir, bundleName: BUNDLE, files, target });
    expect(again).toMatchObject({
      uploaded: 0,
      verified: 3,
      mismatches: [],
      unlisted: ['logs/more/x.log', 'planted.txt'],
    });
    expect(await verifyRemote({ bundleName: BUNDLE, files, target })).toEqual({
      mismatches: [],
      unlisted: ['logs/more/x.log', 'planted.txt'],
    });
    expect(await readFile(path.join(far, 'planted.txt'), 'utf8')).toBe('not evidence\n');
  });

  it('refuses a bundle whose local files no longer match their hashes, before writing anything', async () => {
    const target: UploadTarget = { kind: 'dir', path: path.join(work, 'drift') };
    const stale = files.map((f) => (f.path === 'report.md' ? { ...f, sha256: sha(Buffer.from('older')) } : f));
    await expect(uploadBundle({ bundleDir, bundleName: BUNDLE, files: stale, target })).rejects.toThrow(/report\.md/);
    await expect(stat(path.join(work, 'drift'))).rejects.toThrow(/ENOENT/);
  });

  it('rejects file paths that would escape the bundle', async () => {
    const target: UploadTarget = { kind: 'dir', path: path.join(work, 'escape') };
    const evil = [{ path: '../outside.txt', sha256: sha(Buffer.from('x')), bytes: 1 }];
    await expect(uploadBundle({ bundleDir, bundleName: BUNDLE, files: evil, target })).rejects.toThrow(/\.\./);
  });
});

describe('uploadBundle to S3 (moto)', () => {
  let moto: MotoServer;
  let env: NodeJS.ProcessEnv;
  let s3: S3Client;

  beforeAll(async () => {
    moto = await startMoto();
    env = {
      AWS_ACCESS_KEY_ID: 'testing',
      AWS_SECRET_ACCESS_KEY: 'testing',
      AWS_REGION: 'us-east-1',
      AWS_ENDPOINT_URL_S3: moto.endpoint,
    };
    s3 = await clientWithBucket(moto, 'evidence');
  });

  afterAll(async () => {
    s3?.destroy();
    await moto?.stop();
  }, 30_000);

  const getBytes = async (key: string) => {
    const object = await s3.send(new GetObjectCommand({ Bucket: 'evidence', Key: key }));
    return Buffer.from(await object.Body!.transformToByteArray());
  };

  it('uploads, skips identical objects on rerun, detects and repairs a corrupted object', async () => {
    const target = parseUploadTarget('s3://evidence//team/rehearsals/');
    const first = await uploadBundle({ bundleDir, bundleName: BUNDLE, files, target, env });
    expect(first).toMatchObject({
      uploaded: 3,
      skipped: 0,
      verified: 3,
      mismatches: [],
      destination: `s3://evidence/team/rehearsals/${BUNDLE}/`,
    });
    for (const [rel, bytes] of Object.entries(CONTENTS)) {
      expect((await getBytes(`team/rehearsals/${BUNDLE}/${rel}`)).equals(bytes)).toBe(true);
    }
    const head = await s3.send(
      new HeadObjectCommand({
        Bucket: 'evidence',
        Key: `team/rehearsals/${BUNDLE}/report.md`,
        ChecksumMode: 'ENABLED',
      }),
    );
    expect(head.Metadata?.sha256).toBe(sha(CONTENTS['report.md']!));
    expect(head.ChecksumSHA256).toBe(createHash('sha256').update(CONTENTS['report.md']!).digest('base64'));

    const rerun = await uploadBundle({ bundleDir, bundleName: BUNDLE, files, target, env });
    expect(rerun).toMatchObject({ uploaded: 0, skipped: 3, verified: 3, mismatches: [] });

    // Corrupt the bytes but keep the metadata claiming the original hash: only a download-and-hash check catches this.
    const key = `team/rehearsals/${BUNDLE}/logs/run.log`;
    const original = CONTENTS['logs/run.log']!;
    await s3.send(
      new PutObjectCommand({
        Bucket: 'evidence',
        Key: key,
        Body: flipOneByte(original),
        Metadata: { sha256: sha(original) },
      }),
    );
    expect(await verifyRemote({ bundleName: BUNDLE, files, target, env })).toEqual({
      mismatches: [{ path: 'logs/run.log', expected: sha(original), found: sha(flipOneByte(original)) }],
      unlisted: [],
    });

    const repair = await uploadBundle({ bundleDir, bundleName: BUNDLE, files, target, env });
    expect(repair).toMatchObject({ uploaded: 1, skipped: 2, verified: 3, mismatches: [], sent: ['logs/run.log'] });
    expect(repair.files.find((f) => f.action === 'uploaded')?.path).toBe('logs/run.log');
    expect((await getBytes(key)).equals(original)).toBe(true);
  });

  it('takes the endpoint from the target, with an empty prefix, and reports missing objects', async () => {
    const target = parseUploadTarget('s3://evidence', { endpoint: moto.endpoint, region: 'us-east-1' });
    const credentialsOnly = { AWS_ACCESS_KEY_ID: 'testing', AWS_SECRET_ACCESS_KEY: 'testing' };
    expect(await verifyRemote({ bundleName: 'never-uploaded', files, target, env: credentialsOnly })).toEqual({
      mismatches: files.map((f) => ({ path: f.path, expected: f.sha256, found: null })),
      unlisted: [],
    });
    const report = await uploadBundle({
      bundleDir,
      bundleName: 'at-root',
      files,
      target,
      env: credentialsOnly,
      concurrency: 1,
    });
    expect(report).toMatchObject({ uploaded: 3, verified: 3, destination: 's3://evidence/at-root/' });
    expect((await getBytes('at-root/manifest.json')).equals(CONTENTS['manifest.json']!)).toBe(true);
  });

  it('names an object planted under the bundle prefix, and none of a bundle whose name it only starts with', async () => {
    const target = parseUploadTarget('s3://evidence/planted');
    await uploadBundle({ bundleDir, bundleName: BUNDLE, files, target, env });
    for (const key of [
      `planted/${BUNDLE}/planted.txt`,
      `planted/${BUNDLE}/logs/x.log`,
      `planted/${BUNDLE}-2/other.txt`,
    ])
      await s3.send(new PutObjectCommand({ Bucket: 'evidence', Key: key, Body: 'not evidence\n' }));
    const again = await uploadBundle({ bundleDir, bundleName: BUNDLE, files, target, env });
    expect(again).toMatchObject({ uploaded: 0, verified: 3, mismatches: [], unlisted: ['logs/x.log', 'planted.txt'] });
    expect(await verifyRemote({ bundleName: BUNDLE, files, target, env })).toEqual({
      mismatches: [],
      unlisted: ['logs/x.log', 'planted.txt'],
    });
  });

  it('fails with a message naming a missing bucket and what to do', async () => {
    const target = parseUploadTarget('s3://no-such-bucket/x');
    const upload = uploadBundle({ bundleDir, bundleName: BUNDLE, files, target, env });
    await expect(upload).rejects.toThrow(
      `bucket 'no-such-bucket' does not exist at ${moto.endpoint}: create it or fix --to`,
    );
    await expect(verifyRemote({ bundleName: BUNDLE, files, target, env })).rejects.toThrow(/no-such-bucket/);
  });

  it('fails with a message naming an unreachable endpoint', async () => {
    const port = await closedPort();
    const target = parseUploadTarget('s3://evidence/x', { endpoint: `http://127.0.0.1:${port}` });
    await expect(uploadBundle({ bundleDir, bundleName: BUNDLE, files, target, env })).rejects.toThrow(
      `could not reach S3 at http://127.0.0.1:${port} (ECONNREFUSED)`,
    );
  });
});

describe('parseUploadTarget', () => {
  it('parses s3 URLs, normalizing the prefix', () => {
    expect(parseUploadTarget('s3://bucket/some/prefix')).toEqual({
      kind: 's3',
      bucket: 'bucket',
      prefix: 'some/prefix',
    });
    expect(parseUploadTarget('s3://bucket')).toEqual({ kind: 's3', bucket: 'bucket', prefix: '' });
    expect(parseUploadTarget('s3://bucket/')).toEqual({ kind: 's3', bucket: 'bucket', prefix: '' });
    expect(parseUploadTarget('S3://bucket//a///b/')).toEqual({ kind: 's3', bucket: 'bucket', prefix: 'a/b' });
  });

  it('carries the endpoint and region options, with path-style addressing for an endpoint', () => {
    expect(parseUploadTarget('s3://bucket/p', { endpoint: 'http://127.0.0.1:9000', region: 'eu-west-1' })).toEqual({
      kind: 's3',
      bucket: 'bucket',
      prefix: 'p',
      endpoint: 'http://127.0.0.1:9000',
      region: 'eu-west-1',
      forcePathStyle: true,
    });
  });

  it('treats anything else as a directory, resolved to an absolute path', () => {
    expect(parseUploadTarget('/srv/evidence')).toEqual({ kind: 'dir', path: '/srv/evidence' });
    expect(parseUploadTarget('evidence/out')).toEqual({ kind: 'dir', path: path.resolve('evidence/out') });
    expect(parseUploadTarget('file:///srv/evidence')).toEqual({ kind: 'dir', path: '/srv/evidence' });
  });

  it('rejects s3 URLs without a bucket, bad bucket names and unknown schemes', () => {
    expect(() => parseUploadTarget('s3://')).toThrow("upload target 's3://' has no bucket: use s3://bucket/prefix");
    expect(() => parseUploadTarget('s3:///prefix')).toThrow(/has no bucket/);
    expect(() => parseUploadTarget('s3://Bad_Bucket/x')).toThrow(/invalid bucket name 'Bad_Bucket'/);
    expect(() => parseUploadTarget('gs://bucket/x')).toThrow(/unsupported scheme 'gs:\/\/'/);
    expect(() => parseUploadTarget('  ')).toThrow(/empty/);
  });
});

function closedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}
