import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type Bundle, createBundle, writeChecksumManifest, writeEvidence } from '../../../src/bundle/bundle.js';
import { CHECKSUM_FILE, listBundleFiles } from '../../../src/bundle/checksums.js';
import type { StepName, StepRecord, Summary } from '../../../src/bundle/summary.js';
import { newSummary, saveSummary, withStep } from '../../../src/bundle/summary-io.js';
import type { ConfigInput } from '../../../src/config/schema.js';
import { isRehearseError } from '../../../src/errors.js';
import { ledgerVerdict as ledgerOf } from '../../../src/guardrails/rollup.js';
import type { Verdict } from '../../../src/guardrails/verdict.js';
import type { RehearseEvent } from '../../../src/reporters/events.js';
import { createRedactor, MASK, type Redactor } from '../../../src/secrets/redact.js';
import { runSteps } from '../../../src/steps/runner.js';
import { type UploadStepOptions, uploadStep } from '../../../src/steps/upload/upload.js';
import { verifyBundle } from '../../../src/verify/verify.js';
import { createTestContext } from '../../support/context.js';
import { createFakeApi } from '../../support/fake-api.js';
import { createFakeRunner } from '../../support/fake-runner.js';
import { clientWithBucket, type MotoServer, startMoto } from '../../support/moto.js';

const NOW = new Date('2026-11-26T01:20:00Z');
const NAME = '20261126T012000Z';
const EVIDENCE_STEPS: StepName[] = ['render', 'inspect', 'run', 'capture', 'validate'];
const PLAN = 'docs/operations/staging-rehearsal-plan.md';
const PLAN_TEXT = `# Staging rehearsal plan

## Evidence

- 2026-11-01 [backfill rehearsal 20261101T090000Z](../../dist/staging/backfill/20261101T090000Z) — verdict fail

## Sign-off
`;
const LOG_TEXT = '# Next steps log\n\n- [x] **2026-10-02 · Platform** — Upgraded staging to Prefect 3.9.1.\n';

let work: string;
let repo: string;
let bundle: Bundle;
let summary: Summary;

function stepRecord(name: StepName, verdict: Verdict): StepRecord {
  return {
    name,
    title: name,
    status: 'ok',
    verdict,
    startedAt: NOW.toISOString(),
    durationMs: 1,
    files: [],
    commands: [],
    checks: [{ id: `${name}.fixture`, step: name, title: `${name} fixture`, verdict, reason: 'fixture' }],
  };
}

/** A bundle as the evidence steps leave it: files, summary.json, and the runner's SHA256SUMS. */
async function buildBundle(): Promise<void> {
  bundle = await createBundle(path.join(repo, 'dist/staging/backfill'), NOW, (text) => text);
  await writeEvidence(bundle, 'deployment.json', '{"name":"hotpass-backfill","concurrency_limit":2}\n', NOW);
  await writeEvidence(bundle, 'notes.md', '# Rehearsal notes\n\n## Operator notes\n\n', NOW);
  await writeEvidence(bundle, 'hotpass-e2e-staging.png', Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 1, 2, 255]), NOW);
  await writeEvidence(bundle, 'superseded/20261126T011500Z/deployment.json', '{"name":"hotpass-backfill"}\n', NOW);
  summary = EVIDENCE_STEPS.reduce((s, name) => withStep(s, stepRecord(name, 'pass')), newSummary(bundle, NOW, {}));
  await saveSummary(bundle, summary, NOW);
  await writeChecksumManifest(bundle);
}

function contextFor(
  options: { config?: ConfigInput; dryRun?: boolean; env?: NodeJS.ProcessEnv; redact?: Redactor } = {},
) {
  // No process or API call belongs in an upload: the fake runner throws on any, the fake API answers 404.
  const ctx = createTestContext({
    runner: createFakeRunner([]),
    api: createFakeApi({}),
    projectDir: repo,
    now: () => NOW,
    ...(options.config ? { config: options.config } : {}),
    ...(options.redact ? { redact: options.redact } : {}),
    flags: { dryRun: options.dryRun ?? false },
  });
  ctx.env = options.env ?? {};
  return ctx;
}

async function upload(options: UploadStepOptions, context: Parameters<typeof contextFor>[0] = {}) {
  const ctx = contextFor(context);
  const output = await uploadStep(options).run(ctx, bundle, summary);
  return { output, events: ctx.reporter.events };
}

const read = (rel: string) => readFile(path.join(repo, rel), 'utf8');
const infos = (events: readonly RehearseEvent[]) => events.flatMap((e) => (e.type === 'info' ? [e.message] : []));

beforeEach(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'rehearse-upload-step-'));
  repo = path.join(work, 'hotpass');
  await mkdir(path.join(repo, 'docs/operations'), { recursive: true });
  await writeFile(path.join(repo, PLAN), PLAN_TEXT);
  await writeFile(path.join(repo, 'Next_Steps_Log.md'), LOG_TEXT);
  await buildBundle();
});
afterEach(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('the upload step to a directory', () => {
  it('copies every file and SHA256SUMS, verifies them there, and files one line in the plan and the log', async () => {
    const local = await listBundleFiles(bundle.dir);
    const { output, events } = await upload({}, { config: { upload: { to: 'shared/evidence' } } });

    const destination = path.join(repo, 'shared/evidence', NAME);
    const n = local.length + 1;
    expect(output).toEqual({
      checks: [
        {
          id: 'evidence.upload',
          step: 'upload',
          title: 'bundle uploaded and verified',
          verdict: 'pass',
          reason: `${n} files verified at ${destination}`,
        },
      ],
      files: [],
      data: { destination, uploaded: n, skipped: 0, verified: n },
    });
    expect((await listBundleFiles(destination)).sort()).toEqual(local);
    for (const rel of [...local, CHECKSUM_FILE]) {
      expect((await readFile(path.join(destination, rel))).equals(await readFile(path.join(bundle.dir, rel)))).toBe(
        true,
      );
    }
    // The far copy checks itself with the standard tool.
    expect(execFileSync('sha256sum', ['-c', '--quiet', CHECKSUM_FILE], { cwd: destination, encoding: 'utf8' })).toBe(
      '',
    );

    expect(await read(PLAN)).toBe(
      PLAN_TEXT.replace(
        '— verdict fail\n',
        `— verdict fail\n- 2026-11-26 [backfill rehearsal ${NAME}](../../shared/evidence/${NAME}) — verdict pass\n`,
      ),
    );
    expect(await read('Next_Steps_Log.md')).toBe(
      `${LOG_TEXT}- [x] **2026-11-26 · QA** — Backfill guardrail rehearsal ${NAME}: verdict pass, evidence at \`shared/evidence/${NAME}\` <!-- rehearse:upload:${NAME} shared/evidence/${NAME} -->\n`,
    );
    expect(infos(events)).toContain(`sent all ${n} files to ${destination}; verified ${n} of ${n}`);
  });

  it("files the plan's link and the log's line through the command's redactor", async () => {
    const secret = 'planted-upload-secret-2b9c';
    const to = `shared/${secret}`;
    await upload({}, { config: { upload: { to } }, redact: createRedactor([secret]) });
    for (const ledger of [PLAN, 'Next_Steps_Log.md']) {
      expect(await read(ledger)).not.toContain(secret);
      expect(await read(ledger)).toContain(`shared/${MASK}/${NAME}`);
    }
  });

  it('sends nothing on a rerun and leaves the ledgers as they were', async () => {
    const first = await upload({ to: '../archive' });
    const ledgers = [await read(PLAN), await read('Next_Steps_Log.md')];
    const { output } = await upload({ to: '../archive' });
    expect(output.data).toEqual({ ...first.output.data, uploaded: 0, skipped: first.output.data?.verified });
    expect([await read(PLAN), await read('Next_Steps_Log.md')]).toEqual(ledgers);
    // Outside the repository the copy is linked by its absolute path.
    expect(ledgers[0]).toContain(`](${path.join(work, 'archive', NAME)}) — verdict pass`);
  });

  it('repairs a far-side file changed by one byte', async () => {
    const { output } = await upload({ to: path.join(work, 'archive') });
    const far = path.join(String(output.data?.destination), 'hotpass-e2e-staging.png');
    const bytes = await readFile(far);
    bytes[2] = bytes[2]! ^ 0x01;
    await writeFile(far, bytes);

    const repair = await upload({ to: path.join(work, 'archive') });
    expect(repair.output.data).toMatchObject({ uploaded: 1, verified: output.data?.verified });
    expect((await readFile(far)).equals(await readFile(path.join(bundle.dir, 'hotpass-e2e-staging.png')))).toBe(true);
  });

  it('rewrites SHA256SUMS gone stale since the last step, so sha256sum -c passes on the far side', async () => {
    await writeFile(
      path.join(bundle.dir, 'notes.md'),
      '# Rehearsal notes\n\n## Operator notes\n\nWorker restarted at 01:05.\n',
    );
    const { output, events } = await upload({ to: '../archive' });
    expect(infos(events)).toContain('SHA256SUMS was out of date (notes.md); rewritten before upload');
    expect(
      execFileSync('sha256sum', ['-c', '--quiet', CHECKSUM_FILE], {
        cwd: String(output.data?.destination),
        encoding: 'utf8',
      }),
    ).toBe('');
    expect(execFileSync('sha256sum', ['-c', '--quiet', CHECKSUM_FILE], { cwd: bundle.dir, encoding: 'utf8' })).toBe('');
  });

  it('refuses a sealed bundle whose files no longer match SHA256SUMS, before sending anything', async () => {
    summary = { ...summary, sealed: true };
    await writeFile(path.join(bundle.dir, 'deployment.json'), '{"name":"edited"}\n');
    const failure = await upload({ to: '../archive' }).catch((error: unknown) => error);
    expect(isRehearseError(failure) && [failure.code, failure.message]).toEqual([
      'BUNDLE_INVALID',
      `bundle ${NAME} is sealed but its files no longer match SHA256SUMS: deployment.json`,
    ]);
    expect(await readdir(work)).toEqual(['hotpass']);
    expect(await read('Next_Steps_Log.md')).toBe(LOG_TEXT);
  });

  it('takes --to over upload.to', async () => {
    const { output } = await upload({ to: 'from-flag' }, { config: { upload: { to: 'from-config' } } });
    expect(output.data?.destination).toBe(path.join(repo, 'from-flag', NAME));
  });

  it('stops with USAGE when there is no target, and only notes it when the upload is optional', async () => {
    const failure = await upload({}).catch((error: unknown) => error);
    expect(isRehearseError(failure) && [failure.code, failure.message, failure.hint]).toEqual([
      'USAGE',
      'no upload target',
      'pass --to PATH or --to s3://bucket/prefix, or set upload.to in rehearse.config',
    ]);
    const { output, events } = await upload({ optional: true });
    expect(output).toEqual({ checks: [], files: [], skipped: 'no upload target' });
    expect(infos(events)[0]).toMatch(/^no upload target, so the bundle stays at /);
    expect(await read('Next_Steps_Log.md')).toBe(LOG_TEXT);
  });

  it('in a dry run names what it would send and sends nothing', async () => {
    const { output, events } = await upload({ to: '../archive' }, { dryRun: true });
    const n = (await listBundleFiles(bundle.dir)).length + 1;
    expect(events.filter((e) => e.type === 'command-start')).toEqual([
      {
        type: 'command-start',
        step: 'upload',
        display: `upload ${n} files to ${path.join(work, 'archive', NAME)}`,
        dryRun: true,
      },
    ]);
    expect(output.checks).toEqual([]);
    expect(await readdir(work)).toEqual(['hotpass']);
    expect([await read(PLAN), await read('Next_Steps_Log.md')]).toEqual([PLAN_TEXT, LOG_TEXT]);
  });

  it('through runSteps: the upload is recorded, and the far copy gets the settled summary that records it', async () => {
    const ctx = contextFor();
    const step = uploadStep({ to: '../archive' });
    const first = await runSteps(ctx, bundle, [step], summary, { wholeRehearsal: false });
    const record = first.summary.steps.find((s) => s.name === 'upload');
    expect([record?.status, record?.verdict, record?.checks.map((c) => c.id)]).toEqual([
      'ok',
      'pass',
      ['evidence.upload'],
    ]);
    const farSummary = await readFile(path.join(work, 'archive', NAME, 'summary.json'), 'utf8');
    expect(farSummary).toBe(await readFile(path.join(bundle.dir, 'summary.json'), 'utf8'));
    expect((JSON.parse(farSummary) as Summary).steps.find((s) => s.name === 'upload')?.data).toMatchObject({
      uploaded: record?.data?.uploaded,
    });

    const rerun = contextFor();
    const second = await runSteps(rerun, bundle, [step], first.summary, { wholeRehearsal: false });
    expect(second.summary.steps.find((s) => s.name === 'upload')?.data).toMatchObject({ uploaded: 0 });
    // The step's own record changed summary.json, so exactly it, the report drawn from it and SHA256SUMS follow it.
    const n = (await listBundleFiles(bundle.dir)).length + 1;
    expect(infos(rerun.reporter.events)).toContain(
      `sent nothing to ${path.join(work, 'archive', NAME)}; ${n} files already there, identical; verified ${n} of ${n}`,
    );
    expect(infos(rerun.reporter.events)).toContain(
      `far copy brought up to date: sent report.html, summary.json, SHA256SUMS to ${path.join(work, 'archive', NAME)}; ${n - 3} files already there, identical; verified ${n} of ${n}`,
    );
    expect(await readFile(path.join(work, 'archive', NAME, 'report.html'), 'utf8')).toBe(
      await readFile(path.join(bundle.dir, 'report.html'), 'utf8'),
    );
    expect((await read('Next_Steps_Log.md')).match(/rehearse:upload:/g)).toHaveLength(1);
  });
});

describe('the upload step by hand, rerun and retargeted', () => {
  const snapshot = async (dir: string) =>
    Promise.all(
      (await listBundleFiles(dir)).sort().map(async (rel) => [rel, await readFile(path.join(dir, rel), 'utf8')]),
    );

  it('finds the far copy current after an upload, then sends nothing and leaves the bundle and the copy alone', async () => {
    const step = uploadStep({ to: '../archive' });
    const done = await runSteps(contextFor(), bundle, [step], summary, { wholeRehearsal: false });
    const far = path.join(work, 'archive', NAME);
    const [local, copy, ledgers] = [
      await snapshot(bundle.dir),
      await snapshot(far),
      [await read(PLAN), await read('Next_Steps_Log.md')],
    ];
    const ctx = contextFor();
    const n = (await listBundleFiles(bundle.dir)).length + 1;

    expect(await step.upToDate(ctx, bundle, done.summary)).toBe(
      `nothing sent: all ${n} files at ${far} already match this bundle`,
    );
    expect([
      await snapshot(bundle.dir),
      await snapshot(far),
      [await read(PLAN), await read('Next_Steps_Log.md')],
    ]).toEqual([local, copy, ledgers]);

    // One changed byte anywhere, and the step has work to do again.
    await writeFile(path.join(far, 'notes.md'), 'tampered\n');
    expect(await uploadStep({ to: '../archive' }).upToDate(ctx, bundle, done.summary)).toBeUndefined();
    await writeFile(path.join(bundle.dir, 'notes.md'), '# Rehearsal notes\n\nedited\n');
    expect(await uploadStep({ to: '../archive' }).upToDate(ctx, bundle, done.summary)).toBeUndefined();
    expect(await uploadStep({ to: '../never-sent' }).upToDate(ctx, bundle, done.summary)).toBeUndefined();
  });

  it('logs a second target in the plan and the log, once each', async () => {
    await upload({ to: '../archive' });
    await upload({ to: 'shared/evidence' });
    await upload({ to: 'shared/evidence' });
    const plan = await read(PLAN);
    const log = await read('Next_Steps_Log.md');
    expect(plan.match(new RegExp(`\\[backfill rehearsal ${NAME}\\]`, 'g'))).toHaveLength(2);
    expect(plan).toContain(`](../../shared/evidence/${NAME}) — verdict pass`);
    expect(plan).toContain(`](${path.join(work, 'archive', NAME)}) — verdict pass`);
    expect(log.match(/rehearse:upload:/g)).toHaveLength(2);
    expect(log).toContain(`evidence at \`shared/evidence/${NAME}\``);
  });

  it('a failed rerun replaces the earlier upload pass: the table never shows a pass it no longer has', async () => {
    const first = await runSteps(contextFor(), bundle, [uploadStep({ to: '../archive' })], summary, {
      wholeRehearsal: false,
      existingBundle: true,
    });
    expect(first.summary.steps.find((s) => s.name === 'upload')?.verdict).toBe('pass');
    await writeFile(path.join(work, 'blocked'), 'a file where the target directory should be\n');
    const failed = await runSteps(contextFor(), bundle, [uploadStep({ to: '../blocked/evidence' })], first.summary, {
      wholeRehearsal: false,
      existingBundle: true,
    });
    const row = failed.summary.steps.find((s) => s.name === 'upload');
    expect([failed.exitCode, row?.status, row?.verdict, row?.error?.code]).toEqual([
      3,
      'error',
      'error',
      'EVIDENCE_ROOT_UNWRITABLE',
    ]);
    expect(failed.summary.checks.some((c) => c.id === 'evidence.upload')).toBe(false);
  });

  it('fails its row when the final copy of the settled summary cannot be written', async () => {
    const ctx = contextFor();
    const far = path.join(work, 'archive', NAME);
    // The far copy disappears between the step and its final sync: a file now stands where the directory was.
    const emit = ctx.reporter.emit.bind(ctx.reporter);
    ctx.reporter.emit = (event) => {
      emit(event);
      if (event.type === 'step-end' && event.record.name === 'upload')
        execFileSync('sh', ['-c', `rm -rf "${far}" && echo x > "${far}"`]);
    };
    const outcome = await runSteps(ctx, bundle, [uploadStep({ to: '../archive' })], summary, { wholeRehearsal: false });
    const row = outcome.summary.steps.find((s) => s.name === 'upload');
    expect([outcome.exitCode, outcome.error?.code, row?.status, row?.verdict, row?.checks]).toEqual([
      3,
      'EVIDENCE_ROOT_UNWRITABLE',
      'error',
      'error',
      [],
    ]);
    expect(row?.error?.message).toContain(far);
    expect(outcome.summary.checks.some((c) => c.id === 'evidence.upload')).toBe(false);
    const saved = JSON.parse(await readFile(path.join(bundle.dir, 'summary.json'), 'utf8')) as Summary;
    expect(saved.steps.find((s) => s.name === 'upload')?.status).toBe('error');
    expect(execFileSync('sha256sum', ['-c', '--quiet', CHECKSUM_FILE], { cwd: bundle.dir, encoding: 'utf8' })).toBe('');
  });
});

describe('the upload step with a far copy that holds more than the bundle', () => {
  it('fails its row, exit 3, naming a file planted in the far directory between two uploads', async () => {
    const step = uploadStep({ to: '../archive' });
    const first = await runSteps(contextFor(), bundle, [step], summary, { wholeRehearsal: false });
    const far = path.join(work, 'archive', NAME);
    // This bundle's fixture checks prove nothing, so only what verify says of the files is looked at.
    const unlisted = async () =>
      (await verifyBundle(far)).problems.filter((p) => p.kind === 'unlisted').map((p) => p.path);
    expect(await unlisted()).toEqual([]);
    await writeFile(path.join(far, 'planted.txt'), 'not evidence\n');
    expect(await unlisted()).toEqual(['planted.txt']);

    const ctx = contextFor();
    expect(await step.upToDate(ctx, bundle, first.summary)).toBeUndefined();
    const second = await runSteps(ctx, bundle, [step], first.summary, { wholeRehearsal: false, existingBundle: true });
    const row = second.summary.steps.find((s) => s.name === 'upload');
    expect([second.exitCode, row?.status, row?.verdict, row?.error?.code]).toEqual([
      3,
      'error',
      'error',
      'COMMAND_FAILED',
    ]);
    expect(row?.error?.message).toBe(
      `the far copy at ${far} holds 1 file the bundle does not list (SHA256SUMS): planted.txt; verify there would fail`,
    );
    expect(second.summary.checks.some((c) => c.id === 'evidence.upload')).toBe(false);
    const saved = JSON.parse(await readFile(path.join(bundle.dir, 'summary.json'), 'utf8')) as Summary;
    expect(saved.steps.find((s) => s.name === 'upload')?.status).toBe('error');
    // Nothing on the far side is deleted: the operator decides what the planted file is.
    expect(await readFile(path.join(far, 'planted.txt'), 'utf8')).toBe('not evidence\n');
  });
});

const ledgerVerdict = (summary: Summary) => ledgerOf(summary, EVIDENCE_STEPS);

describe('ledgerVerdict', () => {
  const base = () => newSummary(bundle, NOW, {});
  it('files a pass only when every evidence step ran, a fail whenever a check failed', () => {
    expect(ledgerVerdict(summary)).toBe('pass');
    expect(ledgerVerdict(base())).toBe('incomplete');
    expect(ledgerVerdict(withStep(base(), stepRecord('inspect', 'pass')))).toBe('incomplete');
    expect(ledgerVerdict(withStep(base(), stepRecord('inspect', 'fail')))).toBe('fail');
    expect(ledgerVerdict(withStep(summary, stepRecord('validate', 'inconclusive')))).toBe('inconclusive');
    expect(ledgerVerdict(withStep(summary, { ...stepRecord('capture', 'pass'), status: 'error', checks: [] }))).toBe(
      'incomplete',
    );
  });
});

describe('the upload step to S3 (moto)', () => {
  let moto: MotoServer;
  let s3: S3Client;
  const env = { AWS_ACCESS_KEY_ID: 'testing', AWS_SECRET_ACCESS_KEY: 'testing' };

  beforeAll(async () => {
    moto = await startMoto();
    s3 = await clientWithBucket(moto, 'evidence');
  });
  afterAll(async () => {
    s3?.destroy();
    await moto?.stop();
  }, 30_000);

  it('uploads and verifies every object, links the s3 URL, and sends nothing on a rerun', async () => {
    const config: ConfigInput = {
      upload: { to: 's3://evidence/staging/backfill', endpoint: moto.endpoint, region: 'us-east-1' },
    };
    const local = await listBundleFiles(bundle.dir);
    const n = local.length + 1;
    const destination = `s3://evidence/staging/backfill/${NAME}/`;

    const { output } = await upload({}, { config, env });
    expect(output.data).toEqual({ destination, uploaded: n, skipped: 0, verified: n });
    const listed = await s3.send(new ListObjectsV2Command({ Bucket: 'evidence', Prefix: `staging/backfill/${NAME}/` }));
    expect((listed.Contents ?? []).map((o) => o.Key).sort()).toEqual(
      [...local, CHECKSUM_FILE].map((rel) => `staging/backfill/${NAME}/${rel}`).sort(),
    );
    const sums = await s3.send(
      new GetObjectCommand({ Bucket: 'evidence', Key: `staging/backfill/${NAME}/${CHECKSUM_FILE}` }),
    );
    expect(await sums.Body?.transformToString()).toBe(await readFile(path.join(bundle.dir, CHECKSUM_FILE), 'utf8'));
    expect(await read(PLAN)).toContain(`- 2026-11-26 [backfill rehearsal ${NAME}](${destination}) — verdict pass\n`);
    expect(await read('Next_Steps_Log.md')).toContain(`evidence at \`${destination}\``);

    const ledgers = [await read(PLAN), await read('Next_Steps_Log.md')];
    const rerun = await upload({}, { config, env });
    expect(rerun.output.data).toEqual({ destination, uploaded: 0, skipped: n, verified: n });
    expect([await read(PLAN), await read('Next_Steps_Log.md')]).toEqual(ledgers);
  });

  it('fails its row, exit 3, naming an object planted under the bundle prefix between two uploads', async () => {
    const config: ConfigInput = {
      upload: { to: 's3://evidence/planted/backfill', endpoint: moto.endpoint, region: 'us-east-1' },
    };
    const step = uploadStep();
    const first = await runSteps(contextFor({ config, env }), bundle, [step], summary, { wholeRehearsal: false });
    expect(first.exitCode).toBe(0);
    await s3.send(
      new PutObjectCommand({ Bucket: 'evidence', Key: `planted/backfill/${NAME}/planted.txt`, Body: 'not evidence\n' }),
    );
    const second = await runSteps(contextFor({ config, env }), bundle, [step], first.summary, {
      wholeRehearsal: false,
      existingBundle: true,
    });
    const row = second.summary.steps.find((s) => s.name === 'upload');
    expect([second.exitCode, row?.status, row?.error?.code]).toEqual([3, 'error', 'COMMAND_FAILED']);
    expect(row?.error?.message).toBe(
      `the far copy at s3://evidence/planted/backfill/${NAME}/ holds 1 file the bundle does not list (SHA256SUMS): planted.txt; verify there would fail`,
    );
  });
});
