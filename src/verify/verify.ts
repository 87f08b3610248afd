import { createHash } from 'node:crypto';
import path from 'node:path';
import fs from 'fs-extra';
import type { VerifyingKey } from '../attest/keys.js';
import { readPngSize } from '../browser/screenshot.js';
import { CHECKSUM_FILE, parseChecksums } from '../bundle/checksums.js';
import { SCREENSHOT_FILE } from '../bundle/files.js';
import { stepDataProblems } from '../bundle/step-data.js';
import {
  EVIDENCE_STEPS,
  type StepRecord,
  SUMMARY_FILE,
  SUMMARY_SCHEMA,
  type Summary,
  SummarySchema,
} from '../bundle/summary.js';
import { settleVerdict } from '../bundle/summary-io.js';
import { messageOf, RehearseError } from '../errors.js';
import { stepVerdict } from '../guardrails/rollup.js';
import { formatIssues } from '../util/zod-issues.js';
import { type AttestationFinding, checkAttestation } from './attestation.js';
import { recheckFaults } from './faults.js';
import { isPlainBundlePath, readBundleFile, readBundleText, walkBundle } from './files.js';
import { recheckInspect } from './inspect.js';
import { inconsistent, type VerifyProblem } from './problem.js';
import { checkStatus } from './status.js';
import { recheckValidate } from './validate.js';

export type { VerifyProblem } from './problem.js';

export interface VerifyReport {
  /** The bundle directory, absolute. */
  bundle: string;
  ok: boolean;
  problems: VerifyProblem[];
  /** Files found in the bundle, SHA256SUMS itself left out. */
  files: number;
  /** What summary.json says of the rehearsal, when it could be read. */
  status?: Summary['status'];
  verdict?: Summary['verdict'];
  /** Whether attestation.intoto.jsonl is there, signed, and (with a key) verified; by which key ids. */
  attestation?: Omit<AttestationFinding, 'problems'>;
}

const isUnder = (rel: string, refused: ReadonlySet<string>): boolean =>
  [...refused].some((link) => rel === link || rel.startsWith(`${link}/`));

async function isFileInside(dir: string, rel: string): Promise<boolean> {
  return (await readBundleFile(dir, rel)) !== undefined;
}

/** Every listed file present with its hash, and every file listed. Links and paths leading out are never followed. */
async function checkManifest(
  dir: string,
  present: readonly string[],
  refused: ReadonlySet<string>,
): Promise<VerifyProblem[]> {
  const text = await readBundleText(dir, CHECKSUM_FILE);
  if (text === undefined) {
    return [
      {
        kind: 'no-manifest',
        path: CHECKSUM_FILE,
        detail: `no ${CHECKSUM_FILE} as a regular file, so nothing says what the bundle held: no file can be checked`,
      },
    ];
  }
  const listed = parseChecksums(text);
  const found = await Promise.all(
    [...listed].map(async ([rel, expected]): Promise<VerifyProblem | undefined> => {
      if (!isPlainBundlePath(rel))
        return {
          kind: 'outside',
          path: rel,
          detail: `listed in ${CHECKSUM_FILE}, but not a plain path inside the bundle`,
        };
      const bytes = await readBundleFile(dir, rel);
      if (bytes === undefined) {
        // A file behind a link already reported is not also missing.
        if (isUnder(rel, refused)) return undefined;
        return { kind: 'missing', path: rel, detail: `listed in ${CHECKSUM_FILE} but not in the bundle` };
      }
      const actual = createHash('sha256').update(bytes).digest('hex');
      return actual === expected
        ? undefined
        : { kind: 'changed', path: rel, detail: `sha256 is ${actual}, ${CHECKSUM_FILE} says ${expected}` };
    }),
  );
  const unlisted = present
    .filter((rel) => !listed.has(rel))
    .map(
      (rel): VerifyProblem => ({
        kind: 'unlisted',
        path: rel,
        detail: `in the bundle but not listed in ${CHECKSUM_FILE}`,
      }),
    );
  return [...found.filter((p): p is VerifyProblem => p !== undefined), ...unlisted];
}

function parseSummary(raw: unknown): { summary: Summary } | { problem: VerifyProblem } {
  const parsed = SummarySchema.safeParse(raw);
  if (parsed.success) return { summary: parsed.data };
  const issues = formatIssues(parsed.error.issues);
  const more = issues.length > 3 ? ` (and ${issues.length - 3} more)` : '';
  return {
    problem: {
      kind: 'summary-invalid',
      path: SUMMARY_FILE,
      detail: `does not match ${SUMMARY_SCHEMA}: ${issues.slice(0, 3).join('; ')}${more}`,
    },
  };
}

const ran = (summary: Summary, name: string): StepRecord | undefined =>
  summary.steps.find((s) => s.name === name && s.status === 'ok');

/** The verdicts summary.json states follow from the checks its steps recorded. */
function checkVerdicts(summary: Summary): VerifyProblem[] {
  const problems: VerifyProblem[] = [];
  const fromSteps = summary.steps.flatMap((s) => s.checks);
  const recorded = summary.checks.map((c) => `${c.id} ${c.verdict}`);
  const derived = fromSteps.map((c) => `${c.id} ${c.verdict}`);
  const at = Array.from({ length: Math.max(recorded.length, derived.length) }, (_, i) => i).find(
    (i) => recorded[i] !== derived[i],
  );
  if (at !== undefined) {
    problems.push(
      inconsistent(
        `checks are not those of its steps: check #${at + 1} is ${recorded[at] ?? 'absent'}, the steps recorded ${derived[at] ?? 'nothing'}`,
        SUMMARY_FILE,
      ),
    );
  }
  for (const step of summary.steps.filter((s) => s.status === 'ok')) {
    const verdict = stepVerdict(step.checks, false);
    if (step.verdict !== verdict)
      problems.push(
        inconsistent(`the ${step.name} step says ${step.verdict}, its checks give ${verdict}`, SUMMARY_FILE),
      );
  }

  const settled = settleVerdict({ ...summary, checks: fromSteps }, summary.status).verdict;
  if (summary.verdict === 'pass' && summary.status !== 'complete') {
    problems.push(
      inconsistent(
        `verdict pass, but the bundle is ${summary.status}: only a complete rehearsal can pass`,
        SUMMARY_FILE,
      ),
    );
  } else if (summary.verdict !== settled) {
    problems.push(
      inconsistent(
        `verdict ${summary.verdict}, but a ${summary.status} bundle with its steps' checks is ${settled}`,
        SUMMARY_FILE,
      ),
    );
  }
  if (summary.status === 'complete') {
    const absent = EVIDENCE_STEPS.filter((name) => !ran(summary, name));
    if (absent.length) {
      const said = absent.map((name) => `${name} ${summary.steps.find((s) => s.name === name)?.status ?? 'never ran'}`);
      problems.push(inconsistent(`status complete, but not every evidence step ran: ${said.join(', ')}`, SUMMARY_FILE));
    }
    const exitCode = settleVerdict({ ...summary, checks: fromSteps }, 'complete').exitCode;
    if (summary.exitCode !== exitCode)
      problems.push(
        inconsistent(
          `exitCode ${summary.exitCode}, but a complete bundle with these checks exits ${exitCode}`,
          SUMMARY_FILE,
        ),
      );
  }
  return problems;
}

async function checkStepFiles(dir: string, summary: Summary): Promise<VerifyProblem[]> {
  const listed = summary.steps.flatMap((step) => [...new Set(step.files)].map((rel) => ({ step: step.name, rel })));
  const present = await Promise.all(listed.map(({ rel }) => isFileInside(dir, rel)));
  return listed
    .filter((_, i) => !present[i])
    .map(({ step, rel }) => inconsistent(`the ${step} step lists it, but it is not in the bundle`, rel));
}

async function checkScreenshot(dir: string, summary: Summary): Promise<VerifyProblem[]> {
  const claimed = ran(summary, 'capture')?.checks.some((c) => c.id === 'evidence.screenshot' && c.verdict === 'pass');
  if (!claimed) return [];
  const png = await readBundleFile(dir, SCREENSHOT_FILE);
  if (png === undefined)
    return [inconsistent('evidence.screenshot is pass, but the screenshot is not in the bundle', SCREENSHOT_FILE)];
  return readPngSize(png)
    ? []
    : [inconsistent('evidence.screenshot is pass, but the file is not a PNG image', SCREENSHOT_FILE)];
}

/** A bundle file read as JSON: absent (no text), not JSON (error), or its value. */
type JsonRead = { text?: string; value?: unknown; error?: string };

async function readJsonIfAny(dir: string, rel: string): Promise<JsonRead> {
  const text = await readBundleText(dir, rel);
  if (text === undefined) return {};
  try {
    return { text, value: JSON.parse(text) as unknown };
  } catch (error) {
    return { text, error: messageOf(error) };
  }
}

/** summary.json parsed, or undefined with the reason it cannot be read added to `problems`. */
function summaryOrProblem(raw: JsonRead, problems: VerifyProblem[]): Summary | undefined {
  if (raw.text === undefined) {
    problems.push({ kind: 'summary-invalid', path: SUMMARY_FILE, detail: 'the bundle has no summary.json' });
    return undefined;
  }
  if (raw.error !== undefined) {
    problems.push({ kind: 'summary-invalid', path: SUMMARY_FILE, detail: `not JSON: ${raw.error}` });
    return undefined;
  }
  const parsed = parseSummary(raw.value);
  if ('problem' in parsed) {
    problems.push(parsed.problem);
    return undefined;
  }
  return parsed.summary;
}

/** Re-checks a bundle offline: its files against SHA256SUMS, summary.json against its schema, the verdicts against the evidence. */
export async function verifyBundle(dir: string, options: { key?: VerifyingKey } = {}): Promise<VerifyReport> {
  const bundle = path.resolve(dir);
  const isDir = await fs.stat(bundle).then(
    (s) => s.isDirectory(),
    () => false,
  );
  if (!isDir)
    throw new RehearseError('BUNDLE_INVALID', `no bundle directory at ${dir}`, {
      hint: 'pass a directory made by rehearse (dist/staging/backfill/<timestamp>)',
    });
  const hasManifest = await fs.pathExists(path.join(bundle, CHECKSUM_FILE));
  const raw = await readJsonIfAny(bundle, SUMMARY_FILE);
  const namesSchema = SummarySchema.pick({ schema: true }).safeParse(raw.value).success;
  if (!hasManifest && !namesSchema) {
    throw new RehearseError(
      'BUNDLE_INVALID',
      `${dir} is not a rehearse bundle (no ${CHECKSUM_FILE}, no ${SUMMARY_FILE} of ${SUMMARY_SCHEMA})`,
      {
        hint: 'pass a bundle directory made by rehearse (dist/staging/backfill/<timestamp>), or a copy of one',
      },
    );
  }

  const contents = await walkBundle(bundle);
  const present = contents.files;
  const refused = new Set(contents.problems.map((p) => p.path ?? ''));
  const problems = [...contents.problems, ...(await checkManifest(bundle, present, refused))];
  const summary = summaryOrProblem(raw, problems);
  if (summary) {
    const missing = new Set(problems.filter((p) => p.kind === 'missing').map((p) => p.path));
    const stepFiles = (await checkStepFiles(bundle, summary)).filter(
      (p) => !missing.has(p.path) && !isUnder(p.path ?? '', refused),
    );
    problems.push(
      ...stepDataProblems(summary).map(
        (detail): VerifyProblem => ({ kind: 'summary-invalid', path: SUMMARY_FILE, detail }),
      ),
      ...checkVerdicts(summary),
      ...stepFiles,
      ...(await recheckInspect(bundle, summary)),
      ...(await recheckValidate(bundle, summary)),
      ...(await recheckFaults(bundle, summary)),
      ...(await checkScreenshot(bundle, summary)),
      ...(await checkStatus(bundle, summary)),
    );
  }
  const { problems: attested, ...attestation } = await checkAttestation(bundle, present, summary, options.key);
  problems.push(...attested);
  return {
    bundle,
    ok: problems.length === 0,
    problems,
    files: present.length,
    attestation,
    ...(summary ? { status: summary.status, verdict: summary.verdict } : {}),
  };
}
