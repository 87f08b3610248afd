import path from 'node:path';
import fs from 'fs-extra';
import { ATTESTATION_FILE } from '../attest/attestation.js';
import { readSummary } from '../bundle/bundle.js';
import { CHECKSUM_FILE, listBundleFiles } from '../bundle/checksums.js';
import { readEvidenceJson } from '../bundle/evidence-json.js';
import { FAULTS_FILE, SCREENSHOT_FILE, SLOT_HISTORY_FILE, STATE_HISTORY_FILE } from '../bundle/files.js';
import { NOTES_FILE } from '../bundle/notes.js';
import { DrawnHistorySchema, SlotHistoryFileSchema } from '../bundle/state-history.js';
import { stepData } from '../bundle/step-data.js';
import { SUMMARY_FILE, type Summary } from '../bundle/summary.js';
import { RehearseError } from '../errors.js';
import { FaultsFileSchema } from '../guardrails/fault-record.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import { renderReportHtml } from './html.js';
import { renderTimelineSvg } from './svg.js';
import { buildTimeline, type FaultMark } from './timeline.js';

export const REPORT_FILE = 'report.html';
export const TIMELINE_FILE = 'concurrency.svg';

const numbersIn = (value: unknown): Record<string, number> =>
  Object.fromEntries(
    Object.entries(typeof value === 'object' && value !== null ? value : {}).filter(
      (entry): entry is [string, number] => typeof entry[1] === 'number',
    ),
  );

const shortLabel = (id: string): string => id.replace(/^concurrency\./, '');

const GLOBAL_LIMIT = 'concurrency.global_limit';

const redoHint = (step: string): string =>
  `\`rehearse verify\` shows what changed since it was written; an open bundle takes \`rehearse ${step}\` again`;

/**
 * The limits the bundle judged against: validate's applied limits and the manifest's, else what inspect
 * and run recorded. The global limit bounds occupied slots, so it is kept apart.
 */
export function limitsOf(summary: Summary): { running: Record<string, number>; slots: Record<string, number> } {
  const applied = numbersIn(stepData(summary, 'validate')?.limits);
  // The manifest's promise: a number (older bundles) or { runsRunning, slotsOccupied }.
  const manifest = summary.checks.find((c) => c.id === 'concurrency.manifest_limit')?.expected;
  const promise = typeof manifest === 'number' ? { runsRunning: manifest } : numbersIn(manifest);
  const running: Record<string, number> = {};
  const slots: Record<string, number> = {};
  if (promise.runsRunning !== undefined) running.manifest_limit = promise.runsRunning;
  if (promise.slotsOccupied !== undefined) slots['manifest key limit (slots)'] = promise.slotsOccupied;
  for (const [id, value] of Object.entries(applied)) {
    if (id === GLOBAL_LIMIT) slots[`${shortLabel(id)} (slots)`] = value;
    else running[shortLabel(id)] = value;
  }
  const global = summary.checks.find((c) => c.id === GLOBAL_LIMIT)?.expected;
  if (Object.keys(slots).length === 0 && typeof global === 'number') slots['global_limit (slots)'] = global;
  if (Object.keys(running).length === 0) {
    const deployment = stepData(summary, 'inspect')?.deploymentLimit;
    const strictest = stepData(summary, 'run')?.strictestLimit;
    if (typeof deployment === 'number') running.deployment_limit = deployment;
    else if (typeof strictest === 'number') running.strictest_limit = strictest;
  }
  return { running, slots };
}

/** The faults faults.json says were injected, as marks on the timeline; none without the file. */
async function faultMarks(dir: string): Promise<FaultMark[]> {
  if (!(await fs.pathExists(path.join(dir, FAULTS_FILE)))) return [];
  const file = await readEvidenceJson(dir, FAULTS_FILE, FaultsFileSchema, redoHint('run'));
  return file.faults.flatMap((fault) =>
    fault.status === 'injected' && fault.injectedAt
      ? [
          {
            at: Date.parse(fault.injectedAt),
            label: `${fault.kind}${fault.target ? ` on ${fault.target.name}` : ''}`,
            ...(fault.target ? { runId: fault.target.id } : {}),
          },
        ]
      : [],
  );
}

export interface BuiltReport {
  html: string;
  /** Absent when the bundle has no state histories yet. */
  svg?: string;
}

/** The report of a bundle from its files alone: the same files give the same bytes, wherever they are. */
export async function buildReport(dir: string, summary: Summary): Promise<BuiltReport> {
  const history = (await fs.pathExists(path.join(dir, STATE_HISTORY_FILE)))
    ? await readEvidenceJson(dir, STATE_HISTORY_FILE, DrawnHistorySchema, redoHint('capture'))
    : undefined;
  const limits = limitsOf(summary);
  const slotFile = (await fs.pathExists(path.join(dir, SLOT_HISTORY_FILE)))
    ? await readEvidenceJson(dir, SLOT_HISTORY_FILE, SlotHistoryFileSchema, redoHint('validate'))
    : undefined;
  const model = history
    ? buildTimeline(history, limits.running, limits.slots, slotFile, await faultMarks(dir))
    : undefined;
  const svg = model ? renderTimelineSvg(model) : undefined;
  const notesPath = path.join(dir, NOTES_FILE);
  const shotPath = path.join(dir, SCREENSHOT_FILE);
  // Files written after the report are listed from the summary, so the bundle's copy and a redraw agree:
  // SHA256SUMS, and the attestation that covers the report itself.
  const attestation = summary.attestation?.file;
  const listed = (await listBundleFiles(dir)).filter((f) => f !== ATTESTATION_FILE);
  const later = [CHECKSUM_FILE, ...(svg ? [TIMELINE_FILE] : []), ...(attestation ? [attestation] : [])];
  const files = [...new Set([...listed, ...later])]
    .filter((f) => f !== REPORT_FILE && (svg || f !== TIMELINE_FILE))
    .sort();
  const html = renderReportHtml({
    summary,
    timeline:
      model && svg
        ? { svg, rows: model.rows.length, peak: model.peak }
        : { missing: `${STATE_HISTORY_FILE} is not in this bundle yet (the capture step writes it)` },
    ...((await fs.pathExists(notesPath)) ? { notes: await fs.readFile(notesPath, 'utf8') } : {}),
    ...((await fs.pathExists(shotPath))
      ? { screenshot: { file: SCREENSHOT_FILE, png: await fs.readFile(shotPath) } }
      : {}),
    files,
  });
  return { html, ...(svg ? { svg } : {}) };
}

/** Write report.html (and concurrency.svg) into dir from summary.json as saved; the caller rewrites SHA256SUMS. */
export async function writeReport(dir: string): Promise<string[]> {
  const summary = await readSummary(dir);
  if (!summary) {
    throw new RehearseError('BUNDLE_INVALID', `${dir} is not a rehearse bundle (no valid ${SUMMARY_FILE})`, {
      hint: 'pass a directory made by rehearse',
    });
  }
  const report = await buildReport(dir, summary);
  if (report.svg !== undefined) await writeFileAtomic(path.join(dir, TIMELINE_FILE), report.svg);
  await writeFileAtomic(path.join(dir, REPORT_FILE), report.html);
  return report.svg === undefined ? [REPORT_FILE] : [TIMELINE_FILE, REPORT_FILE];
}
