import path from 'node:path';
import fs from 'fs-extra';
import type { ScreenshotResult } from '../../browser/screenshot.js';
import { type Bundle, writeEvidence, writeEvidenceJson, writeStagedEvidence } from '../../bundle/bundle.js';
import { updateNotes } from '../../bundle/notes.js';
import type { StepDataInput } from '../../bundle/step-data.js';
import type { Summary } from '../../bundle/summary.js';
import type { Context } from '../../context.js';
import type { Check } from '../../guardrails/verdict.js';
import { envAuthHeaders } from '../../prefect/api.js';
import { readFlowRuns } from '../../prefect/runs.js';
import type { FlowRun } from '../../prefect/schemas.js';
import { runStepData, type ScreenshotRecord } from '../run/data.js';
import { runPageUrl } from '../run/page.js';
import type { Step } from '../step.js';
import {
  collectStateHistories,
  planWithoutRuns,
  STATE_HISTORY_FILE,
  type StateHistoryFile,
  selectRuns,
} from './histories.js';

const METADATA_FILE = 'metadata.json';

import { SCREENSHOT_FILE } from '../../bundle/files.js';

export interface CaptureOptions {
  flowRunIds: string[];
  allRuns: boolean;
}

/** What capture reads, printed instead by a dry run whose run step made no runs. */
const capturePlan = (ctx: Context): string[] => [
  `POST ${ctx.prefect.apiUrl}/flow_runs/filter (the rehearsal's runs) > ${METADATA_FILE}`,
  `GET ${ctx.prefect.apiUrl}/flow_run_states/?flow_run_id=<each run> > ${STATE_HISTORY_FILE}`,
  `chromium --headless <run page> > ${SCREENSHOT_FILE}`,
];

/** The run page's screenshot taken now, or the one the run step took as the run ended, kept. */
type Shot =
  | ScreenshotResult
  | (Omit<Extract<ScreenshotRecord, { status: 'captured' }>, 'status'> & { status: 'reused' });

function screenshotCheck(shot: Shot, url: string): Check {
  const base = { id: 'evidence.screenshot', step: 'capture', title: 'screenshot of the run page' };
  if (shot.status === 'missing') return { ...base, verdict: 'inconclusive', reason: `no screenshot: ${shot.reason}` };
  const reason =
    shot.status === 'reused'
      ? `${shot.width}x${shot.height} of ${shot.url}, taken as the run ended${shot.matchedText ? `, showing ${shot.matchedText}` : ''}`
      : `${shot.width}x${shot.height} of ${url}${shot.matchedText ? ` showing ${shot.matchedText}` : ''}`;
  return { ...base, verdict: 'pass', reason };
}

/** The run step shoots the page the moment the run ends: that picture is kept, unless runs were named by hand. */
async function shootRunPage(
  ctx: Context,
  summary: Summary,
  options: CaptureOptions,
  page: { url: string; file: string; expectText: string[] },
): Promise<Shot> {
  const taken = runStepData(summary)?.screenshot;
  if (options.flowRunIds.length === 0 && taken?.status === 'captured' && (await fs.pathExists(page.file)))
    return { ...taken, status: 'reused' };
  // Chromium is no command the context's dry-run rule sees, so the step skips it and its check says why.
  if (ctx.flags.dryRun) return { status: 'missing', reason: 'dry run', url: page.url };
  const { captureRunPage } = await import('../../browser/screenshot.js');
  return captureRunPage({
    url: page.url,
    signal: ctx.signal,
    outFile: `${page.file}.new`,
    expectText: page.expectText,
    extraHeaders: envAuthHeaders(ctx.env),
  });
}

/** Runbook step 4: flow-run metadata, every state transition, and a screenshot of the run page. */
/** The capture's files; a screenshot staged at `staged` is moved in, and never left behind when a write fails. */
async function writeCaptured(
  bundle: Bundle,
  runs: FlowRun[],
  histories: StateHistoryFile,
  staged: string | undefined,
  now: Date,
): Promise<string[]> {
  try {
    const files = [
      await writeEvidence(bundle, METADATA_FILE, `${JSON.stringify(runs, null, 2)}\n`, now),
      await writeEvidenceJson(bundle, STATE_HISTORY_FILE, histories, now),
    ];
    if (staged) files.push(await writeStagedEvidence(bundle, SCREENSHOT_FILE, staged, now));
    return files;
  } finally {
    if (staged) await fs.remove(staged);
  }
}

export function captureStep(options: CaptureOptions): Step {
  return {
    name: 'capture',
    title: 'capture run metadata, state histories and the run page',
    async run(ctx, bundle, summary) {
      if (planWithoutRuns(ctx, summary, options.flowRunIds, capturePlan(ctx))) return { checks: [], files: [] };
      const selection = selectRuns(summary, options.flowRunIds);
      const primary = selection.rehearsalRunIds[0] as string;
      const runs = await readFlowRuns(ctx.api, selection.rehearsalRunIds);
      const primaryRun = runs.find((r) => r.id === primary);
      const url = runPageUrl(ctx.prefect.apiUrl, primary, runStepData(summary)?.runUrl);
      const shotFile = path.join(bundle.dir, SCREENSHOT_FILE);
      const [histories, shot] = await Promise.all([
        collectStateHistories(ctx, selection, { allRuns: options.allRuns }),
        shootRunPage(ctx, summary, options, { url, file: shotFile, expectText: primaryRun ? [primaryRun.name] : [] }),
      ]);
      const now = ctx.now();
      const files = await writeCaptured(
        bundle,
        runs,
        histories,
        shot.status === 'captured' ? `${shotFile}.new` : undefined,
        now,
      );
      if (shot.status === 'reused') files.push(SCREENSHOT_FILE);
      const transitions = histories.runs.reduce((n, r) => n + r.states.length, 0);
      const notes = [
        `${runs.length} rehearsal run(s) in ${METADATA_FILE}; ${histories.runs.length} run(s) of the deployment with ${transitions} state transitions in ${STATE_HISTORY_FILE} (as of ${histories.asOf}).`,
        shot.status !== 'missing'
          ? `Screenshot of ${shot.url} in ${SCREENSHOT_FILE}.`
          : `**Screenshot missing**: ${shot.reason}. Take one by hand of ${url} and store it as ${SCREENSHOT_FILE}.`,
      ];
      files.push(await updateNotes(bundle, 'capture', 'Capture', notes.join('\n\n'), now));
      return {
        checks: [screenshotCheck(shot, url)],
        files,
        data: {
          flowRunIds: selection.rehearsalRunIds,
          runsWithHistory: histories.runs.length,
          screenshot: shot.status,
          url,
        } satisfies StepDataInput<'capture'>,
      };
    },
  };
}
