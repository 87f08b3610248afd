import { createHash } from 'node:crypto';
import path from 'node:path';
import fs from 'fs-extra';
import type { Bundle } from '../../bundle/bundle.js';
import { CHECKSUM_FILE, digestBundle, formatChecksums, parseChecksums } from '../../bundle/checksums.js';
import type { StepDataInput } from '../../bundle/step-data.js';
import { EVIDENCE_STEPS, type Summary } from '../../bundle/summary.js';
import type { Context } from '../../context.js';
import { RehearseError } from '../../errors.js';
import { ledgerVerdict } from '../../guardrails/rollup.js';
import { appendRehearsalLogEntry, linkBundleInPlan, locationFrom } from '../../ledgers/ledgers.js';
import {
  type BundleFile,
  parseUploadTarget,
  type UploadLimits,
  type UploadReport,
  type UploadTarget,
  uploadBundle,
  verifyRemote,
} from '../../upload/targets.js';
import { writeFileAtomic } from '../../util/atomic-write.js';
import { plural } from '../../util/plural.js';
import type { Step, StepOutput } from '../step.js';

const isUrl = (to: string): boolean => /^[a-z][a-z0-9+.-]*:\/\//i.test(to.trim());

export interface UploadStepOptions {
  to?: string;
  /** In the whole rehearsal no target is no error: the bundle stays where it is. */
  optional?: boolean;
}

const NO_TARGET_HINT = 'pass --to PATH or --to s3://bucket/prefix, or set upload.to in rehearse.config';

/** The target from --to or the config; a relative directory is relative to where rehearse runs. */
function resolveUploadTarget(ctx: Context, to: string | undefined): UploadTarget | undefined {
  const chosen = to ?? ctx.config.upload.to;
  if (chosen === undefined || chosen.trim() === '') return undefined;
  const { endpoint, region } = ctx.config.upload;
  return parseUploadTarget(isUrl(chosen) ? chosen : path.resolve(ctx.cwd, chosen), {
    ...(endpoint ? { endpoint } : {}),
    ...(region ? { region } : {}),
  });
}

/** Where uploadBundle puts the bundle, known before anything is sent (a dry run prints it). */
function destinationOf(target: UploadTarget, bundleName: string): string {
  if (target.kind === 'dir') return path.join(target.path, bundleName);
  return `s3://${[target.bucket, ...target.prefix.split('/'), bundleName].filter(Boolean).join('/')}/`;
}

interface UploadPlan {
  files: BundleFile[];
  manifest: string;
  /** Paths whose digests SHA256SUMS no longer states; undefined when it is current. */
  stale: string[] | undefined;
}

async function planUploadFiles(bundle: Bundle): Promise<UploadPlan> {
  const digests = await digestBundle(bundle.dir);
  const manifest = formatChecksums(digests);
  const current = await fs.readFile(path.join(bundle.dir, CHECKSUM_FILE), 'utf8').catch(() => undefined);
  const self = {
    path: CHECKSUM_FILE,
    sha256: createHash('sha256').update(manifest).digest('hex'),
    bytes: Buffer.byteLength(manifest),
  };
  if (current === manifest) return { files: [...digests, self], manifest, stale: undefined };
  const recorded = parseChecksums(current ?? '');
  const stale = [...new Set([...recorded.keys(), ...digests.map((d) => d.path)])]
    .filter((p) => recorded.get(p) !== digests.find((d) => d.path === p)?.sha256)
    .sort();
  return { files: [...digests, self], manifest, stale };
}

/**
 * The bundle's files and its checksum manifest as the far side will get them. Notes an operator edited
 * after the last step leave SHA256SUMS stale, and a stale manifest would fail `sha256sum -c` over there.
 */
async function listUploadFiles(ctx: Context, bundle: Bundle, summary: Summary): Promise<BundleFile[]> {
  const { files, manifest, stale } = await planUploadFiles(bundle);
  if (stale !== undefined) {
    const changed = stale;
    if (summary.sealed) {
      throw new RehearseError(
        'BUNDLE_INVALID',
        `bundle ${bundle.name} is sealed but its files no longer match ${CHECKSUM_FILE}: ${changed.join(', ')}`,
        {
          hint: `run rehearse verify ${bundle.dir} to see what changed; a sealed bundle is never rewritten`,
        },
      );
    }
    // A dry run uploads nothing, so nothing needs SHA256SUMS current: it is only reported.
    ctx.reporter.emit({
      type: 'info',
      message: `${CHECKSUM_FILE} was out of date (${changed.join(', ') || 'layout'})${ctx.flags.dryRun ? '' : '; rewritten before upload'}`,
    });
    if (!ctx.flags.dryRun) await writeFileAtomic(path.join(bundle.dir, CHECKSUM_FILE), manifest);
  }
  return files;
}

/** What a report says was sent, exactly: the files by name when they are few. */
function describeSent(report: UploadReport, total: number): string {
  const count = report.sent.length;
  const names =
    count === 0
      ? 'nothing'
      : count === total
        ? `all ${plural(count, 'file')}`
        : count <= 6
          ? report.sent.join(', ')
          : plural(count, 'file');
  const kept = total - report.sent.length;
  const extra = report.unlisted.length ? `; ${plural(report.unlisted.length, 'file')} there not in the bundle` : '';
  return `sent ${names} to ${report.destination}${kept > 0 ? `; ${plural(kept, 'file')} already there, identical` : ''}; verified ${report.verified} of ${total}${extra}`;
}

/**
 * The far copy passes only as `verify` would pass it there: every file as sent, and nothing else under it
 * (a planted file or object makes `verify` on the copy fail with unlisted). Nothing is deleted on the far side.
 */
function farCopyFailure(report: UploadReport, what?: string): RehearseError | undefined {
  const { mismatches, unlisted, destination } = report;
  if (mismatches.length > 0) {
    const paths = mismatches.map((m) => m.path).join(', ');
    return new RehearseError(
      'COMMAND_FAILED',
      what
        ? `${what} did not verify at ${destination}: ${paths}`
        : `${plural(mismatches.length, 'file')} did not verify at ${destination}: ${paths}`,
      {
        hint: what
          ? 'rerun rehearse upload for this bundle'
          : 'rerun rehearse upload to send them again; if they still differ, something on the far side rewrites them',
        details: mismatches.map((m) => `${m.path}: expected sha256 ${m.expected}, found ${m.found ?? 'nothing'}`),
        data: { destination, mismatches, unlisted },
      },
    );
  }
  if (unlisted.length === 0) return undefined;
  const shown = unlisted.slice(0, 10).join(', ') + (unlisted.length > 10 ? ` and ${unlisted.length - 10} more` : '');
  return new RehearseError(
    'COMMAND_FAILED',
    `the far copy at ${destination} holds ${plural(unlisted.length, 'file')} the bundle does not list (${CHECKSUM_FILE}): ${shown}; verify there would fail`,
    {
      hint: `remove them from ${destination} (they are not this bundle's evidence), then rerun rehearse upload`,
      details: unlisted.map((rel) => `unlisted: ${rel}`),
      data: { destination, mismatches, unlisted },
    },
  );
}

async function fileInLedgers(ctx: Context, bundle: Bundle, summary: Summary, destination: string): Promise<void> {
  const { ledgers } = ctx.config;
  const plan = path.resolve(ctx.cwd, ledgers.rehearsalPlan);
  const log = path.resolve(ctx.cwd, ledgers.nextStepsLog);
  const verdict = ledgerVerdict(summary, EVIDENCE_STEPS);
  const date = ctx.now().toISOString().slice(0, 10);
  const linked = await linkBundleInPlan({
    file: plan,
    bundleName: bundle.name,
    location: locationFrom(plan, destination, ctx.cwd),
    verdict,
    date,
    redact: ctx.redact,
  });
  // One entry per copy: a second target is a second place the evidence lives.
  const logged = await appendRehearsalLogEntry({
    file: log,
    owner: ledgers.owner,
    date,
    key: `rehearse:upload:${bundle.name} ${locationFrom(log, destination, ctx.cwd)}`,
    text: `Backfill guardrail rehearsal ${bundle.name}: verdict ${verdict}, evidence at \`${locationFrom(log, destination, ctx.cwd)}\``,
    redact: ctx.redact,
  });
  for (const [entry, rel] of [
    [linked, ledgers.rehearsalPlan],
    [logged, ledgers.nextStepsLog],
  ] as const) {
    ctx.reporter.emit({
      type: 'info',
      message: entry.added ? `${rel}: added ${entry.line}` : `${rel}: already there, ${entry.line}`,
    });
  }
}

/** One time budget for the whole step (upload, final sync), obeying rehearse's own abort signal. */
function budget(): (ctx: Context) => UploadLimits {
  let startedAt: number | undefined;
  return (ctx) => {
    const allowedMs = ctx.config.timeouts.uploadSeconds * 1000;
    startedAt ??= ctx.clock.now();
    const timeoutMs = Math.max(1, startedAt + allowedMs - ctx.clock.now());
    return { signal: ctx.signal, timeoutMs, allowedMs, clock: ctx.clock };
  };
}

/** How long the check before a step by hand may wait on a far side that does not answer: the step has its own budget. */
const UP_TO_DATE_CHECK_MS = 30_000;
/** A silent far side is waited on with a line this often, so an operator sees rehearse is not stuck. */
const WAITING_EVERY_MS = 15_000;

/** `work`, with a `waiting` line every WAITING_EVERY_MS while it has not settled, saying how long so far. */
async function waitingOn<T>(ctx: Context, what: string, allowedMs: number, work: Promise<T>): Promise<T> {
  const started = ctx.clock.now();
  const done = new AbortController();
  const beats = (async () => {
    for (;;) {
      await ctx.clock.sleep(WAITING_EVERY_MS, done.signal);
      if (done.signal.aborted) return;
      const waited = Math.round((ctx.clock.now() - started) / 1000);
      const message = `${what}: waiting ${waited} s so far (gives up after ${Math.round(allowedMs / 1000)} s)`;
      ctx.reporter.emit({ type: 'waiting', step: 'upload', message });
    }
  })();
  try {
    return await work;
  } finally {
    done.abort();
    await beats;
  }
}

export type UploadStep = Step & {
  /**
   * Before a step by hand records anything: a message when the far copy already holds every file as it is
   * here (nothing is sent, the bundle is left untouched), else undefined and the step runs as usual.
   */
  upToDate(ctx: Context, bundle: Bundle, summary: Summary): Promise<string | undefined>;
};

type SendBundle = (ctx: Context, bundle: Bundle, files: BundleFile[], target: UploadTarget) => Promise<UploadReport>;

/** Sends the bundle within the step's one upload budget (shared by the step and the settled summary's re-send). */
function bundleSender(): SendBundle {
  const limits = budget();
  return (ctx, bundle, files, target) => {
    const bounds = limits(ctx);
    const work = uploadBundle({
      bundleDir: bundle.dir,
      bundleName: bundle.name,
      files,
      target,
      env: ctx.env,
      ...bounds,
    });
    return waitingOn(ctx, `uploading to ${destinationOf(target, bundle.name)}`, bounds.allowedMs ?? 0, work);
  };
}

/** See UploadStep.upToDate. */
async function upToDate(
  ctx: Context,
  bundle: Bundle,
  summary: Summary,
  to: string | undefined,
): Promise<string | undefined> {
  const target = resolveUploadTarget(ctx, to);
  if (!target) return undefined;
  const plan = await planUploadFiles(bundle);
  if (plan.stale !== undefined) return undefined;
  // Any trouble here is the upload's to meet and record; an interruption ends the command before it touches anything.
  // Its own short budget: a far side that does not answer here leaves the step its whole budget, and its time.
  const timeoutMs = Math.min(UP_TO_DATE_CHECK_MS, ctx.config.timeouts.uploadSeconds * 1000);
  const check = verifyRemote({
    bundleName: bundle.name,
    files: plan.files,
    target,
    env: ctx.env,
    signal: ctx.signal,
    timeoutMs,
    clock: ctx.clock,
  });
  const where = `checking the copy at ${destinationOf(target, bundle.name)}`;
  const found = await waitingOn(ctx, where, timeoutMs, check).catch((error: unknown) => {
    if (ctx.signal.aborted) throw error;
    return undefined;
  });
  if (found === undefined || found.mismatches.length > 0 || found.unlisted.length > 0) return undefined;
  const destination = destinationOf(target, bundle.name);
  await fileInLedgers(ctx, bundle, summary, destination);
  return `nothing sent: all ${plural(plan.files.length, 'file')} at ${destination} already match this bundle`;
}

/** Sends the bundle, checks the far copy and files it in the ledgers: the upload step's work once it has a target. */
async function sendAndFile(
  ctx: Context,
  bundle: Bundle,
  summary: Summary,
  plan: { files: BundleFile[]; destination: string; target: UploadTarget; sendBundle: SendBundle },
): Promise<StepOutput> {
  const { files, destination, target, sendBundle } = plan;
  ctx.reporter.emit({ type: 'info', message: `uploading ${plural(files.length, 'file')} to ${destination}` });
  const report = await sendBundle(ctx, bundle, files, target);
  ctx.reporter.emit({ type: 'info', message: describeSent(report, files.length) });
  const failure = farCopyFailure(report);
  if (failure) throw failure;
  await fileInLedgers(ctx, bundle, summary, report.destination);
  return {
    checks: [
      {
        id: 'evidence.upload',
        step: 'upload',
        title: 'bundle uploaded and verified',
        verdict: 'pass',
        reason: `${plural(report.verified, 'file')} verified at ${report.destination}`,
      },
    ],
    files: [],
    data: {
      destination: report.destination,
      uploaded: report.uploaded,
      skipped: report.skipped,
      verified: report.verified,
    } satisfies StepDataInput<'upload'>,
  };
}

/** Runbook step 6: copy the bundle to the shared path or bucket, check it there, and file it in the ledgers. */
export function uploadStep(options: UploadStepOptions = {}): UploadStep {
  const sendBundle = bundleSender();
  return {
    upToDate: (ctx, bundle, summary) => upToDate(ctx, bundle, summary, options.to),
    name: 'upload',
    title: 'upload the bundle and log it',
    recordsFailure: true,
    async run(ctx, bundle, summary) {
      const target = resolveUploadTarget(ctx, options.to);
      if (!target) {
        if (!options.optional) throw new RehearseError('USAGE', 'no upload target', { hint: NO_TARGET_HINT });
        ctx.reporter.emit({
          type: 'info',
          message: `no upload target, so the bundle stays at ${bundle.dir} (${NO_TARGET_HINT})`,
        });
        return { checks: [], files: [], skipped: 'no upload target' };
      }
      const files = await listUploadFiles(ctx, bundle, summary);
      const destination = destinationOf(target, bundle.name);
      // S3 and directory copies are no commands the context's dry-run rule sees: the step prints what it skips.
      if (ctx.flags.dryRun) {
        ctx.reporter.emit({
          type: 'command-start',
          step: 'upload',
          display: `upload ${plural(files.length, 'file')} to ${destination}`,
          dryRun: true,
        });
        return { checks: [], files: [] };
      }
      if (summary.status === 'interrupted' || summary.status === 'failed-to-run') {
        ctx.reporter.emit({
          type: 'info',
          message: `uploading a bundle whose summary.json says ${summary.status}; the far copy says so too`,
        });
      }
      return sendAndFile(ctx, bundle, summary, { files, destination, target, sendBundle });
    },
    // The far copy's summary.json must say what the local one says once the rehearsal is settled.
    async afterSettle(ctx, bundle, summary) {
      const target = resolveUploadTarget(ctx, options.to);
      if (!target) return;
      const files = await listUploadFiles(ctx, bundle, summary);
      const report = await sendBundle(ctx, bundle, files, target);
      const failure = farCopyFailure(report, 'the final summary');
      if (failure) throw failure;
      ctx.reporter.emit({
        type: 'info',
        message: `far copy brought up to date: ${describeSent(report, files.length)}`,
      });
    },
  };
}
