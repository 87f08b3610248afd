import path from 'node:path';
import fs from 'fs-extra';
import type { Bundle } from '../../bundle/bundle.js';
import { table, updateNotes } from '../../bundle/notes.js';
import type { StepDataInput } from '../../bundle/step-data.js';
import { RehearseError } from '../../errors.js';
import { computeDrift, type DriftRow, driftedRows } from '../../guardrails/drift.js';
import { type Manifest, parseManifestText } from '../../guardrails/manifest.js';
import { fullName, readDeployment, resolveDeploymentName } from '../../prefect/queries.js';
import { formatCommand } from '../../process/command.js';
import type { Step } from '../step.js';
import { renderWithCommand } from './command.js';
import { renderManifests } from './manifests.js';
import { SPECS_FILE } from './output.js';
import { planRender, type RenderPlan } from './plan.js';

export { RENDER_LOG, SPECS_FILE } from './output.js';

async function readRepositoryManifest(projectDir: string, rel: string): Promise<Manifest> {
  const file = path.resolve(projectDir, rel);
  if (!(await fs.pathExists(file))) {
    throw new RehearseError('CONFIG_INVALID', `manifest not found: ${file}`, {
      hint:
        'run rehearse in the project checkout, or set "projectDir" / "manifest" in rehearse.config ' +
        '(or --project-dir / --manifest)',
    });
  }
  return parseManifestText(await fs.readFile(file, 'utf8'), rel);
}

const shown = (value: unknown): unknown => (value === undefined ? '(missing)' : value);

function driftMarkdown(rows: DriftRow[], sources: { repo: string; staging: string; live: string }): string {
  const drifted = driftedRows(rows);
  const between =
    `the repository manifest \`${sources.repo}\`, the staging render \`${sources.staging}\` ` +
    `and the live deployment \`${sources.live}\``;
  if (drifted.length === 0) return `No drift: ${between} agree on all ${rows.length} keys.`;
  return [
    `${drifted.length} of ${rows.length} keys differ between ${between}:`,
    '',
    table(
      ['key', 'repository', 'staging render', 'live'],
      drifted.map((r) => [r.key, shown(r.repo), shown(r.rendered), shown(r.live)]),
    ),
  ].join('\n');
}

function describePlan(plan: RenderPlan): string {
  const how = plan.kind === 'command' ? `\`${formatCommand(plan.command)}\`` : 'by rehearse, from the manifests';
  return `render: ${how} (${plan.why})`;
}

/** Runbook step 1: render the manifests without changing staging, keep what was rendered, document drift. */
export const renderStep: Step = {
  name: 'render',
  title: 'render the manifests',
  async run(ctx, bundle: Bundle) {
    const repo = await readRepositoryManifest(ctx.prefect.projectDir, ctx.config.manifest);
    const plan = await planRender(ctx);
    ctx.reporter.emit({ type: 'info', message: describePlan(plan) });
    const outcome =
      plan.kind === 'command'
        ? await renderWithCommand(ctx, bundle, plan, repo)
        : await renderManifests(ctx, bundle, plan, repo);

    const ref = await resolveDeploymentName(ctx.api, ctx.config.deployment);
    const { deployment } = await readDeployment(ctx.api, ref);
    const rows = computeDrift(repo, outcome.staging.manifest, deployment);
    const driftedKeys = driftedRows(rows).map((r) => r.key);
    const body = [
      driftMarkdown(rows, { repo: ctx.config.manifest, staging: outcome.staging.rel, live: fullName(ref) }),
      '',
      `Render used: ${plan.why}.`,
      outcome.staging.printed
        ? `The staging render column is the spec the render produced (${SPECS_FILE}), overrides included.`
        : 'The render printed no spec rehearse could read; the staging render column is the manifest file ' +
          `${outcome.staging.rel}.`,
      outcome.summaryLine,
    ].join('\n');
    const heading = 'Render: drift between repository, staging render and live deployment';
    const files = [...outcome.files, await updateNotes(bundle, 'render', heading, body, ctx.now())];
    return {
      checks: [],
      files,
      data: {
        render: plan.kind,
        why: plan.why,
        ...outcome.data,
        renderedFiles: outcome.renderedFiles,
        drift: driftedKeys.length,
        driftedKeys,
      } satisfies StepDataInput<'render'>,
    };
  },
};
