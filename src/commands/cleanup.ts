import path from 'node:path';
import { abandonIfOrphaned, markAbandoned, reportAbandoned, sweepAbandoned } from '../bundle/abandon.js';
import { findOpenBundle, openBundle, readSummary } from '../bundle/bundle.js';
import { type BundleLock, lockBundle } from '../bundle/lock.js';
import type { Summary } from '../bundle/summary.js';
import type { Context } from '../context.js';
import { ExitCode, RehearseError } from '../errors.js';
import type { CommandResult } from '../reporters/events.js';
import { openSession, type SessionOptions } from '../session.js';
import { type CleanupScope, cleanupRehearsal, describeCleanup } from '../steps/cleanup/cleanup.js';
import { runStepData } from '../steps/run/data.js';

export interface CleanupFlags {
  /** Every unfinished rehearsal run of the deployment, not one bundle's. */
  all: boolean;
  graceSeconds?: number;
}

const ONE_OR_ALL = 'pass --bundle DIR for one rehearsal, or --all for every rehearsal run of the deployment';

/**
 * The run ids the run step recorded. Cleanup must work on any bundle, a damaged one included: an
 * unreadable hand-off leaves it finding the runs by the bundle's tag alone.
 */
function runIdsOf(summary: Summary | undefined): string[] {
  try {
    return summary ? (runStepData(summary)?.flowRunIds ?? []) : [];
  } catch {
    return [];
  }
}

interface Target {
  scope: CleanupScope;
  bundleDir?: string;
  lock?: BundleLock;
}

/**
 * The rehearsal to clean up after: the named bundle, or the newest. A live rehearsal holds its
 * bundle, so cleanup waits for it or is refused: its runs are its own to cancel (Ctrl-C does).
 */
async function chooseTarget(ctx: Context, options: SessionOptions, root: string): Promise<Target> {
  const dir = options.bundle ?? (await findOpenBundle(root, { includeSealed: true }));
  if (!dir) throw new RehearseError('USAGE', `no bundle under ${root} to clean up after`, { hint: ONE_OR_ALL });
  const bundle = await openBundle(dir, ctx.redact, { allowSealed: true, allowAbandoned: true });
  let lock: BundleLock | undefined;
  if (!ctx.flags.dryRun) {
    lock = await lockBundle(bundle.dir, { command: 'cleanup' });
    if ((await readSummary(bundle.dir))?.status === 'in-progress') {
      await markAbandoned(bundle.dir, lock.previous, ctx.now());
      const found = { dir: bundle.dir, name: bundle.name, ...(lock.previous ? { owner: lock.previous } : {}) };
      reportAbandoned(ctx.reporter, [found], options.cwd);
    }
  }
  const summary = await readSummary(bundle.dir);
  const scope = { tag: `rehearse-${bundle.name}`, runIds: runIdsOf(summary) };
  return { scope, bundleDir: bundle.dir, ...(lock ? { lock } : {}) };
}

/** `rehearse cleanup`: cancel a rehearsal's leftover runs (found by its tag) and free the slots they hold. */
export async function cleanup(options: SessionOptions, flags: CleanupFlags): Promise<CommandResult> {
  if (options.bundle && flags.all) {
    throw new RehearseError('USAGE', '--bundle and --all name different things to clean up', { hint: ONE_OR_ALL });
  }
  const { ctx, config } = await openSession('cleanup', options);
  const root = path.resolve(options.cwd, config.evidenceRoot);
  const dryRun = options.flags.dryRun;
  if (!dryRun) {
    reportAbandoned(ctx.reporter, await sweepAbandoned(root, 'cleanup', ctx.now()), options.cwd);
    // A bundle outside the evidence root, killed before it had a summary.json, gets one here.
    const dir = options.bundle ? path.resolve(options.cwd, options.bundle) : undefined;
    const named = dir ? await abandonIfOrphaned(dir, 'cleanup', ctx.now()) : undefined;
    if (named) reportAbandoned(ctx.reporter, [named], options.cwd);
  }
  const target: Target = flags.all ? { scope: { all: true } } : await chooseTarget(ctx, options, root);
  try {
    const grace = flags.graceSeconds === undefined ? {} : { graceMs: flags.graceSeconds * 1000 };
    const report = await cleanupRehearsal(ctx, target.scope, grace);
    const failedSlots = report.slots.filter((s) => s.status !== undefined && (s.status < 200 || s.status >= 300));
    const ok = report.leftOver.length === 0 && failedSlots.length === 0;
    const left = `${report.leftOver.length} run(s) unfinished`;
    const message = `cleanup left ${left} and ${failedSlots.length} limit(s) unfreed`;
    return {
      command: 'cleanup',
      exitCode: ok ? ExitCode.ok : ExitCode.couldNotRun,
      verdict: ok ? 'pass' : 'error',
      ...(dryRun ? { dryRun: true } : {}),
      ...(target.bundleDir ? { bundle: path.relative(options.cwd, target.bundleDir) || target.bundleDir } : {}),
      data: { ...report },
      lines: [...(dryRun ? ['dry run: nothing was cancelled or freed'] : []), ...describeCleanup(report, dryRun)],
      ...(ok ? {} : { error: { code: 'COMMAND_FAILED', message, hint: 'check the server, then run cleanup again' } }),
    };
  } finally {
    await target.lock?.release();
  }
}
