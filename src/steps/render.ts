import path from 'node:path';
import fs from 'fs-extra';
import type { Context } from '../context.js';
import { writeEvidence, type Bundle } from '../evidence/bundle.js';
import { table, updateNotes } from '../evidence/notes.js';
import { RehearseError, tailOf } from '../errors.js';
import { computeDrift, driftedRows, type DriftRow } from '../guardrails/drift.js';
import { parseManifestText, type Manifest } from '../guardrails/manifest.js';
import { fullName, readDeployment, resolveDeploymentName } from '../prefect/queries.js';
import { formatCommand, type Command, type ProcessResult } from '../process/command.js';
import { assertRan } from './prefect-cli.js';
import { extractJsonObjects, rejectedOptions } from './render-output.js';
import type { Step } from './step.js';

export const RENDER_LOG = 'render.log';
export const RENDERED_DIR = 'rendered';
export const SPECS_FILE = `${RENDERED_DIR}/specs.json`;

const MANIFEST_FILE = /\.ya?ml$/i;

export function renderCommand(ctx: Context): Command {
  const [file, ...args] = ctx.config.render.command;
  return {
    file: file ?? 'uv',
    args,
    cwd: ctx.prefect.projectDir,
    env: ctx.prefect.env,
    // The runbook's render is hotpass's dry run of the deploy: it prints specs and applies nothing,
    // so `rehearse --dry-run` runs it too. A render.command without a dry-run flag would deploy:
    // that one a dry run only prints.
    readOnly: args.includes('--dry-run'),
    timeoutMs: ctx.config.timeouts.commandSeconds * 1000,
  };
}

/** A render that exited non-zero; an option the tool rejected gets its own, actionable message. */
function renderFailure(result: ProcessResult): RehearseError {
  const output = result.stdout + result.stderr;
  const details = tailOf(output, 8);
  const data = { command: [result.command.file, ...result.command.args], exitCode: result.exitCode, files: [RENDER_LOG] };
  const rejected = rejectedOptions(output);
  if (rejected.length > 0) {
    return new RehearseError('COMMAND_FAILED', `the render command's hotpass does not accept ${rejected.join(', ')}`, {
      details,
      data,
      hint: 'set render.command in rehearse.config to the flags your hotpass version has, e.g. ["uv","run","hotpass","deploy","--manifest-dir","prefect/staging","--flow","backfill"] plus its dry-run flag',
    });
  }
  return new RehearseError('COMMAND_FAILED', `the render command exited ${result.exitCode ?? `on signal ${result.signal ?? 'unknown'}`}`, {
    details,
    data,
    hint: `read ${RENDER_LOG} in the bundle for the whole output of ${formatCommand(result.command)}`,
  });
}

async function readRepositoryManifest(projectDir: string, rel: string): Promise<Manifest> {
  const file = path.resolve(projectDir, rel);
  if (!(await fs.pathExists(file))) {
    throw new RehearseError('CONFIG_INVALID', `manifest not found: ${file}`, {
      hint: 'run rehearse in the project checkout, or set "projectDir" / "manifest" in rehearse.config (or --project-dir / --manifest)',
    });
  }
  return parseManifestText(await fs.readFile(file, 'utf8'), rel);
}

interface ManifestFile { name: string; rel: string; text: string }

async function readManifestDir(projectDir: string, rel: string): Promise<ManifestFile[]> {
  const dir = path.resolve(projectDir, rel);
  const names = (await fs.pathExists(dir)) ? (await fs.readdir(dir)).filter((n) => MANIFEST_FILE.test(n)).sort() : [];
  if (names.length === 0) {
    throw new RehearseError('CONFIG_INVALID', `no manifests (*.yaml, *.yml) in ${dir}`, {
      hint: 'set "manifestDir" in rehearse.config to the overlay directory the render command renders (prefect/staging)',
    });
  }
  return Promise.all(names.map(async (name) => ({ name, rel: path.posix.join(rel, name), text: await fs.readFile(path.join(dir, name), 'utf8') })));
}

/** The overlay of the deployment under rehearsal: the one named as the repository's, else the only one there is. */
async function pickStagingManifest(files: ManifestFile[], repo: Manifest): Promise<{ rel: string; manifest: Manifest }> {
  const parsed: { rel: string; manifest: Manifest }[] = [];
  let firstError: unknown;
  for (const file of files) {
    try {
      parsed.push({ rel: file.rel, manifest: await parseManifestText(file.text, file.rel) });
    } catch (error) {
      firstError ??= error;
    }
  }
  const named = parsed.filter((p) => p.manifest.name === repo.name);
  const pick = named.find((p) => p.manifest.id === repo.id) ?? named[0] ?? (parsed.length === 1 ? parsed[0] : undefined);
  if (pick) return pick;
  if (parsed.length === 0 && firstError) throw firstError;
  throw new RehearseError('CONFIG_INVALID', `no manifest in ${path.posix.dirname(files[0]?.rel ?? '.')} is named ${repo.name}`, {
    details: parsed.map((p) => `${p.rel}: ${p.manifest.name}`),
    hint: 'set "manifestDir" in rehearse.config to the overlay of this deployment, or "manifest" to its repository manifest',
  });
}

const shown = (value: unknown): unknown => (value === undefined ? '(missing)' : value);

function driftMarkdown(rows: DriftRow[], sources: { repo: string; staging: string; live: string }): string {
  const drifted = driftedRows(rows);
  if (drifted.length === 0) {
    return `No drift: the repository manifest \`${sources.repo}\`, the staging render \`${sources.staging}\` and the live deployment \`${sources.live}\` agree on all ${rows.length} keys.`;
  }
  return [
    `${drifted.length} of ${rows.length} keys differ between the repository manifest \`${sources.repo}\`, the staging render \`${sources.staging}\` and the live deployment \`${sources.live}\`:`,
    '',
    table(['key', 'repository', 'staging render', 'live'], drifted.map((r) => [r.key, shown(r.repo), shown(r.rendered), shown(r.live)])),
  ].join('\n');
}

/** Runbook step 1: render the manifests with hotpass's dry run, keep what it rendered, document drift. */
export const renderStep: Step = {
  name: 'render',
  title: 'render the manifests',
  async run(ctx, bundle: Bundle) {
    const repo = await readRepositoryManifest(ctx.prefect.projectDir, ctx.config.manifest);
    const command = renderCommand(ctx);
    const result = await ctx.runner.run(command);
    assertRan(result, 'rendering the manifests');
    const now = ctx.now();
    const files = [await writeEvidence(bundle, RENDER_LOG, result.stdout + result.stderr, now)];
    if (result.exitCode !== 0) throw renderFailure(result);

    const manifestFiles = await readManifestDir(ctx.prefect.projectDir, ctx.config.manifestDir);
    const renderedFiles: string[] = [];
    for (const file of manifestFiles) renderedFiles.push(await writeEvidence(bundle, `${RENDERED_DIR}/${file.name}`, file.text, now));
    const specs = extractJsonObjects(result.stdout);
    if (specs.length > 0) renderedFiles.push(await writeEvidence(bundle, SPECS_FILE, `${JSON.stringify(specs, null, 2)}\n`, now));
    files.push(...renderedFiles);

    const staging = await pickStagingManifest(manifestFiles, repo);
    const ref = await resolveDeploymentName(ctx.api, ctx.config.deployment);
    const { deployment } = await readDeployment(ctx.api, ref);
    const rows = computeDrift(repo, staging.manifest, deployment);
    const driftedKeys = driftedRows(rows).map((r) => r.key);

    const body = [
      driftMarkdown(rows, { repo: ctx.config.manifest, staging: staging.rel, live: fullName(ref) }),
      '',
      `Render command \`${formatCommand(command)}\` exited ${result.exitCode}; its output is in ${RENDER_LOG}, the manifests it rendered under ${RENDERED_DIR}/.`,
    ].join('\n');
    files.push(await updateNotes(bundle, 'render', 'Render: drift between repository, staging render and live deployment', body, now));
    return {
      checks: [],
      files,
      data: { command: [command.file, ...command.args], exitCode: result.exitCode, renderedFiles, drift: driftedKeys.length, driftedKeys },
    };
  },
};
