import path from 'node:path';
import fs from 'fs-extra';
import { findOpenBundle, loadSummary, writeChecksumManifest } from '../bundle/bundle.js';
import { CHECKSUM_FILE, parseChecksums, sha256OfFile } from '../bundle/checksums.js';
import { lockBundle } from '../bundle/lock.js';
import type { Summary } from '../bundle/summary.js';
import { ExitCode, RehearseError } from '../errors.js';
import { renderCompareHtml } from '../report/compare.js';
import { buildReport, REPORT_FILE, TIMELINE_FILE, writeReport } from '../report/write.js';
import type { CommandResult } from '../reporters/events.js';
import { writeFileAtomic } from '../util/atomic-write.js';

export interface ReportOptions {
  /** The bundle (default: the newest under evidenceRoot). */
  bundle?: string;
  /** Where bundles are (default: evidenceRoot of rehearse.config, or its default). */
  evidenceRoot?: string;
  configFile?: string;
  /** Two bundles (OLDER NEWER) to set side by side instead. */
  compare?: string[];
  /** Write here instead of into the bundle (or, for --compare, instead of stdout). */
  out?: string;
  cwd: string;
}

async function summaryOf(dir: string): Promise<Summary> {
  const loaded = await loadSummary(dir);
  if (!('summary' in loaded)) {
    throw new RehearseError('BUNDLE_INVALID', `${dir} is not a rehearse bundle (no valid summary.json)`, {
      hint: 'pass a directory made by rehearse (dist/staging/backfill/<timestamp>)',
      details: [loaded.problem],
    });
  }
  return loaded.summary;
}

/** Files (other than the report's own) that no longer match SHA256SUMS: rewriting the sums would hide them. */
async function findChangedFiles(dir: string): Promise<string[]> {
  const sums = await fs.readFile(path.join(dir, CHECKSUM_FILE), 'utf8').catch(() => undefined);
  if (sums === undefined) return [];
  const changed: string[] = [];
  for (const [rel, expected] of parseChecksums(sums)) {
    if (rel === REPORT_FILE || rel === TIMELINE_FILE) continue;
    const file = path.join(dir, rel);
    const actual = (await fs.pathExists(file)) ? await sha256OfFile(file) : 'missing';
    if (actual !== expected) changed.push(rel);
  }
  return changed;
}

async function resolveBundle(options: ReportOptions): Promise<string> {
  if (options.bundle) return path.resolve(options.cwd, options.bundle);
  const { loadConfig } = await import('../config/load.js');
  const configured = options.evidenceRoot
    ? options.evidenceRoot
    : (await loadConfig({ cwd: options.cwd, ...(options.configFile ? { file: options.configFile } : {}) })).config
        .evidenceRoot;
  const root = path.resolve(options.cwd, configured);
  const newest = await findOpenBundle(root, { includeSealed: true });
  if (!newest) {
    throw new RehearseError('BUNDLE_INVALID', `no bundle under ${root}`, {
      hint: 'pass a bundle directory, or --evidence-root where the bundles are',
    });
  }
  return newest;
}

async function compareBundles(options: ReportOptions, bundles: string[]): Promise<CommandResult> {
  const [older, newer] = bundles;
  if (bundles.length !== 2 || older === undefined || newer === undefined) {
    throw new RehearseError('USAGE', '--compare takes two bundles: OLDER NEWER', {
      hint: 'rehearse report --compare <older bundle> <newer bundle>',
    });
  }
  const html = renderCompareHtml(
    await summaryOf(path.resolve(options.cwd, older)),
    await summaryOf(path.resolve(options.cwd, newer)),
  );
  if (options.out) await writeFileAtomic(path.resolve(options.cwd, options.out), html);
  return {
    command: 'report',
    exitCode: ExitCode.ok,
    verdict: 'pass',
    data: { compare: [older, newer], ...(options.out ? { out: options.out } : {}) },
    lines: options.out ? [`comparison written to ${options.out}`] : [html],
  };
}

/** `rehearse report [BUNDLE]`: report.html and concurrency.svg from the bundle's files alone, offline. */
export async function report(options: ReportOptions): Promise<CommandResult> {
  if (options.compare) return compareBundles(options, options.compare);
  const dir = await resolveBundle(options);
  const summary = await summaryOf(dir);
  const base = { command: 'report', exitCode: ExitCode.ok, verdict: summary.verdict, bundle: dir } as const;
  if (options.out) {
    const out = path.resolve(options.cwd, options.out);
    await writeFileAtomic(out, (await buildReport(dir, summary)).html);
    return { ...base, data: { out }, lines: [`report written to ${out}`] };
  }
  const changed = await findChangedFiles(dir);
  if (changed.length > 0) {
    throw new RehearseError(
      'BUNDLE_INVALID',
      `files of ${dir} no longer match ${CHECKSUM_FILE}: ${changed.join(', ')}`,
      {
        hint: `run rehearse verify ${dir}; write the report elsewhere with --out FILE`,
      },
    );
  }
  const lock = await lockBundle(dir, { command: 'report' });
  try {
    const files = await writeReport(dir);
    await writeChecksumManifest({ dir, name: path.basename(dir), redact: (text) => text });
    return {
      ...base,
      data: { files: files.map((f) => path.join(dir, f)) },
      lines: files.map((f) => `wrote ${path.join(dir, f)}`),
    };
  } finally {
    await lock.release();
  }
}
