import path from 'node:path';
import fs from 'fs-extra';
import { RehearseError } from '../errors.js';
import type { Baseline, GuardrailSnapshot } from '../guardrails/baseline.js';
import { readSummary } from './bundle.js';
import { stepData } from './step-data.js';
import type { Summary } from './summary.js';

/** The guardrails a passing bundle recorded; a record that is not what rehearse wrote is refused, never compared. */
function recordedSnapshot(summary: Summary, root: string): GuardrailSnapshot | undefined {
  const refuse = (problem: string) =>
    new RehearseError(
      'BUNDLE_INVALID',
      `summary.json of bundle ${summary.bundle}, a passing rehearsal under ${root}: ` +
        `the data its validate step recorded is not what rehearse wrote (${problem})`,
      { hint: `move that bundle out of ${root}, so the baseline is the passing rehearsal before it` },
    );
  return stepData(summary, 'validate', refuse)?.guardrails;
}

/** The newest bundle under the evidence root that passed for the same deployment and recorded its guardrails. */
export async function findBaseline(root: string, deployment: string, except: string): Promise<Baseline | undefined> {
  const names = (await fs.pathExists(root)) ? await fs.readdir(root) : [];
  let best: Baseline | undefined;
  for (const name of names) {
    if (name === except) continue;
    // Anything under the root that is not a rehearse bundle (no valid summary.json) is no baseline.
    const summary = await readSummary(path.join(root, name));
    if (summary?.verdict !== 'pass' || summary.target.deployment !== deployment) continue;
    const snapshot = recordedSnapshot(summary, root);
    if (!snapshot || (best && summary.createdAt <= best.createdAt)) continue;
    best = { bundle: summary.bundle, createdAt: summary.createdAt, snapshot };
  }
  return best;
}
