import path from 'node:path';
import fs from 'fs-extra';
import { messageOf, RehearseError } from '../errors.js';
import { maskedJsonChunks, type Redactor, redactDocument } from '../secrets/redact.js';
import { writeChunksThenPlace, writeFileAtomic } from '../util/atomic-write.js';
import { formatIssues } from '../util/zod-issues.js';
import { CHECKSUM_FILE, digestBundle, formatChecksums, sha256OfFile } from './checksums.js';
import { SUMMARY_FILE, type Summary, SummarySchema } from './summary.js';

export const BUNDLE_NAME = /^\d{8}T\d{6}Z$/;

export interface Bundle {
  dir: string;
  name: string;
  /** Every text written through the bundle passes through it: no secret reaches a file. */
  redact: Redactor;
}

/** yyyyMMdd'T'HHmmss'Z' in UTC, whatever the local zone (and its daylight-saving changes). */
export function bundleNameFor(date: Date): string {
  return date
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}Z$/, 'Z');
}

async function ensureWritableRoot(root: string): Promise<void> {
  try {
    await fs.ensureDir(root);
    await fs.access(root, fs.constants.W_OK);
  } catch (error) {
    throw new RehearseError(
      'EVIDENCE_ROOT_UNWRITABLE',
      `cannot write to the evidence root ${root} (${(error as NodeJS.ErrnoException).code ?? messageOf(error)})`,
      {
        hint: 'free space or fix permissions there, or choose another root with --evidence-root',
      },
    );
  }
}

/** A new bundle named by the UTC time; an existing directory is never reused. */
export async function createBundle(root: string, now: Date, redact: Redactor): Promise<Bundle> {
  await ensureWritableRoot(root);
  for (let offset = 0; offset < 120; offset += 1) {
    const name = bundleNameFor(new Date(now.getTime() + offset * 1000));
    const dir = path.join(root, name);
    try {
      await fs.mkdir(dir);
      return { dir, name, redact };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new RehearseError(
          'EVIDENCE_ROOT_UNWRITABLE',
          `cannot create a bundle under ${root} (${(error as NodeJS.ErrnoException).code})`,
          {
            hint: 'free space or fix permissions there, or choose another root with --evidence-root',
          },
        );
      }
    }
  }
  throw new RehearseError('EVIDENCE_ROOT_UNWRITABLE', `no free bundle name under ${root}`, {
    hint: 'remove stale bundles',
  });
}

/** A bundle's summary.json, or why it cannot be used: missing, not JSON, or a field of the wrong type. */
export async function loadSummary(dir: string): Promise<{ summary: Summary } | { problem: string }> {
  const file = path.join(dir, SUMMARY_FILE);
  if (!(await fs.pathExists(file))) return { problem: `${SUMMARY_FILE} is missing` };
  let value: unknown;
  try {
    value = await fs.readJson(file);
  } catch (error) {
    return { problem: `${SUMMARY_FILE} is not JSON: ${messageOf(error)}` };
  }
  const parsed = SummarySchema.safeParse(value);
  if (parsed.success) return { summary: parsed.data };
  return { problem: `${SUMMARY_FILE}: ${formatIssues(parsed.error.issues).slice(0, 3).join('; ')}` };
}

export async function readSummary(dir: string): Promise<Summary | undefined> {
  const loaded = await loadSummary(dir);
  return 'summary' in loaded ? loaded.summary : undefined;
}

/** An existing bundle for a step run by hand; it must be one of ours and not sealed. */
export async function openBundle(
  dir: string,
  redact: Redactor,
  options: { allowSealed?: boolean; allowAbandoned?: boolean } = {},
): Promise<Bundle> {
  const abs = path.resolve(dir);
  if (!(await fs.pathExists(abs)) || !(await fs.stat(abs)).isDirectory()) {
    throw new RehearseError('BUNDLE_INVALID', `no bundle directory at ${dir}`, {
      hint: 'pass a directory made by rehearse (dist/staging/backfill/<timestamp>)',
    });
  }
  const loaded = await loadSummary(abs);
  if (!('summary' in loaded)) {
    throw new RehearseError('BUNDLE_INVALID', `${dir} is not a rehearse bundle (no valid ${SUMMARY_FILE})`, {
      hint: 'pass a directory made by rehearse, or omit --bundle to use the newest one',
      details: [loaded.problem],
    });
  }
  const { summary } = loaded;
  if (summary.sealed && !options.allowSealed) {
    throw new RehearseError(
      'BUNDLE_SEALED',
      `bundle ${summary.bundle} is sealed (its rehearsal finished); it is never changed`,
      {
        hint: 'start a new rehearsal, or omit --bundle to start a new bundle',
      },
    );
  }
  if (summary.status === 'abandoned' && !options.allowAbandoned) {
    throw new RehearseError(
      'BUNDLE_ABANDONED',
      `bundle ${summary.bundle} was abandoned: the command working in it died; it never takes more steps`,
      {
        hint: `run \`rehearse cleanup --bundle ${dir}\` to cancel its leftover runs, then start a new rehearsal`,
      },
    );
  }
  return { dir: abs, name: path.basename(abs), redact };
}

// A bundle whose command died or could not run is never the one a later step adds to by default.
const NOT_ADOPTED = new Set(['abandoned', 'failed-to-run']);

/** The newest bundle under root that is still open for steps run by hand (or, with includeSealed, the newest). */
export async function findOpenBundle(
  root: string,
  options: { includeSealed?: boolean } = {},
): Promise<string | undefined> {
  if (!(await fs.pathExists(root))) return undefined;
  const names = (await fs.readdir(root))
    .filter((n) => BUNDLE_NAME.test(n))
    .sort()
    .reverse();
  for (const name of names) {
    const summary = await readSummary(path.join(root, name));
    if (summary && (options.includeSealed || (!summary.sealed && !NOT_ADOPTED.has(summary.status))))
      return path.join(root, name);
  }
  return undefined;
}

/**
 * Write one evidence file. A file a rerun replaces is kept under superseded/, never lost.
 * Text is redacted; buffers (images) are written as they are.
 */
export function writeEvidence(bundle: Bundle, rel: string, content: string | Buffer, stamp: Date): Promise<string> {
  return asEvidenceWrite(bundle, rel, () => writeEvidenceFile(bundle, rel, content, stamp));
}

/**
 * `writeEvidence` of a file staged beside the bundle's own (a screenshot as it was taken). The staged copy
 * never outlives the call, written or not: a full disk must not keep a partial PNG holding its space.
 */
export async function writeStagedEvidence(bundle: Bundle, rel: string, staged: string, stamp: Date): Promise<string> {
  try {
    return await writeEvidence(bundle, rel, await fs.readFile(staged), stamp);
  } finally {
    await fs.remove(staged);
  }
}

/**
 * `writeEvidence` of `JSON.stringify(value, null, 2)` and a newline, the same bytes, written piece by
 * piece: a state history of 100k runs is never held as one string nor parsed back to be masked.
 */
export function writeEvidenceJson(bundle: Bundle, rel: string, value: unknown, stamp: Date): Promise<string> {
  const file = path.join(bundle.dir, rel);
  const chunks = (function* () {
    yield* maskedJsonChunks(value, bundle.redact);
    yield '\n';
  })();
  return asEvidenceWrite(bundle, rel, async () => {
    await writeChunksThenPlace(file, chunks, async (temp) => {
      if (await fs.pathExists(file)) {
        const [was, now] = await Promise.all([fs.stat(file), fs.stat(temp)]);
        if (was.size === now.size && (await sha256OfFile(file)) === (await sha256OfFile(temp))) return;
        await supersede(bundle, rel, stamp);
      }
      await fs.rename(temp, file);
    });
    return rel;
  });
}

async function asEvidenceWrite(bundle: Bundle, rel: string, write: () => Promise<string>): Promise<string> {
  try {
    return await write();
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    // A full or read-only disk is the operator's to fix, not a bug: say so, and what was not written.
    if (code && ['ENOSPC', 'EDQUOT', 'EROFS', 'EACCES', 'EPERM', 'ENOTDIR', 'EEXIST'].includes(code)) {
      throw new RehearseError('EVIDENCE_ROOT_UNWRITABLE', `could not write ${rel} into ${bundle.dir} (${code})`, {
        hint: 'free space or fix permissions there, then rerun the step on this bundle (--bundle); files already written are kept',
        cause: error,
      });
    }
    throw error;
  }
}

/** Moves the file a rerun is about to replace under superseded/ (summary.json and notes.md are rewritten in place). */
async function supersede(bundle: Bundle, rel: string, stamp: Date): Promise<void> {
  if (rel === SUMMARY_FILE || rel === 'notes.md') return;
  let keep = path.join(bundle.dir, 'superseded', bundleNameFor(stamp), rel);
  for (let n = 2; await fs.pathExists(keep); n += 1)
    keep = path.join(bundle.dir, 'superseded', `${bundleNameFor(stamp)}-${n}`, rel);
  await fs.ensureDir(path.dirname(keep));
  await fs.rename(path.join(bundle.dir, rel), keep);
}

async function writeEvidenceFile(bundle: Bundle, rel: string, content: string | Buffer, stamp: Date): Promise<string> {
  const file = path.join(bundle.dir, rel);
  const data = typeof content === 'string' ? redactDocument(bundle.redact, rel, content) : content;
  if (await fs.pathExists(file)) {
    const old = await fs.readFile(file);
    if (old.equals(typeof data === 'string' ? Buffer.from(data) : data)) return rel;
    await supersede(bundle, rel, stamp);
  }
  await writeFileAtomic(file, data);
  return rel;
}

export async function writeChecksumManifest(bundle: Bundle): Promise<void> {
  await writeFileAtomic(path.join(bundle.dir, CHECKSUM_FILE), formatChecksums(await digestBundle(bundle.dir)));
}
