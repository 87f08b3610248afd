import path from 'node:path';
import fs from 'fs-extra';
import { type Bundle, writeEvidence } from '../../bundle/bundle.js';
import type { Context } from '../../context.js';
import { RehearseError, tailOf } from '../../errors.js';
import { type Manifest, parseManifestText } from '../../guardrails/manifest.js';
import { formatCommand, type ProcessResult } from '../../process/command.js';
import { assertRan } from '../prefect-cli.js';
import {
  extractJsonObjects,
  pickRendered,
  RENDER_LOG,
  RENDERED_DIR,
  type Rendered,
  type RenderOutcome,
  rejectedOptions,
  SPECS_FILE,
  specsAsManifests,
} from './output.js';
import type { RenderPlan } from './plan.js';

const MANIFEST_FILE = /\.ya?ml$/i;

/** A render that exited non-zero; an option the tool rejected gets its own, actionable message. */
function renderFailure(result: ProcessResult): RehearseError {
  const output = result.stdout + result.stderr;
  const details = tailOf(output, 8);
  const command = [result.command.file, ...result.command.args];
  const data = { command, exitCode: result.exitCode, files: [RENDER_LOG] };
  const rejected = rejectedOptions(output);
  if (rejected.length > 0) {
    return new RehearseError('COMMAND_FAILED', `the render command's hotpass does not accept ${rejected.join(', ')}`, {
      details,
      data,
      hint:
        'drop render.command from rehearse.config and set render.deployCommand to the deploy command your hotpass ' +
        'has: rehearse adds its dry run when its --help lists one, and renders the manifests itself when not',
    });
  }
  const how = result.exitCode ?? `on signal ${result.signal ?? 'unknown'}`;
  return new RehearseError('COMMAND_FAILED', `the render command exited ${how}`, {
    details,
    data,
    hint: `read ${RENDER_LOG} in the bundle for the whole output of ${formatCommand(result.command)}`,
  });
}

interface ManifestFile {
  name: string;
  rel: string;
  text: string;
}

async function readManifestDir(projectDir: string, rel: string): Promise<ManifestFile[]> {
  const dir = path.resolve(projectDir, rel);
  const names = (await fs.pathExists(dir)) ? (await fs.readdir(dir)).filter((n) => MANIFEST_FILE.test(n)).sort() : [];
  if (names.length === 0) {
    throw new RehearseError('CONFIG_INVALID', `no manifests (*.yaml, *.yml) in ${dir}`, {
      hint:
        'set "manifestDir" in rehearse.config to the overlay directory the render command renders ' +
        '(prefect/staging)',
    });
  }
  return Promise.all(
    names.map(async (name) => ({
      name,
      rel: path.posix.join(rel, name),
      text: await fs.readFile(path.join(dir, name), 'utf8'),
    })),
  );
}

/** When the render printed no spec rehearse can read, the overlay file of the deployment stands in. */
async function pickStagingManifest(files: ManifestFile[], repo: Manifest): Promise<Rendered> {
  const parsed: Rendered[] = [];
  let firstError: unknown;
  for (const file of files) {
    try {
      parsed.push({ rel: file.rel, manifest: await parseManifestText(file.text, file.rel) });
    } catch (error) {
      firstError ??= error;
    }
  }
  const pick = pickRendered(parsed, repo);
  if (pick) return pick;
  if (parsed.length === 0 && firstError) throw firstError;
  const dir = path.posix.dirname(files[0]?.rel ?? '.');
  throw new RehearseError('CONFIG_INVALID', `no manifest in ${dir} is named ${repo.name}`, {
    details: parsed.map((p) => `${p.rel}: ${p.manifest.name}`),
    hint:
      'set "manifestDir" in rehearse.config to the overlay of this deployment, or "manifest" to its ' +
      'repository manifest',
  });
}

type CommandPlan = Extract<RenderPlan, { kind: 'command' }>;

/** The deploy command's own dry run (or a declared read-only command): its output and what it rendered. */
export async function renderWithCommand(
  ctx: Context,
  bundle: Bundle,
  plan: CommandPlan,
  repo: Manifest,
): Promise<RenderOutcome> {
  const { command } = plan;
  const result = await ctx.runner.run(command);
  assertRan(result, 'rendering the manifests');
  const now = ctx.now();
  const files = [await writeEvidence(bundle, RENDER_LOG, result.stdout + result.stderr, now)];
  if (result.exitCode !== 0) throw renderFailure(result);
  const manifestFiles = await readManifestDir(ctx.prefect.projectDir, ctx.config.manifestDir);
  const renderedFiles: string[] = [];
  for (const file of manifestFiles) {
    renderedFiles.push(await writeEvidence(bundle, `${RENDERED_DIR}/${file.name}`, file.text, now));
  }
  const specs = extractJsonObjects(result.stdout);
  if (specs.length > 0) {
    renderedFiles.push(await writeEvidence(bundle, SPECS_FILE, `${JSON.stringify(specs, null, 2)}\n`, now));
  }
  files.push(...renderedFiles);
  const staging = pickRendered(specsAsManifests(specs), repo) ?? (await pickStagingManifest(manifestFiles, repo));
  return {
    files,
    renderedFiles,
    staging,
    data: { command: [command.file, ...command.args], exitCode: result.exitCode },
    summaryLine:
      `Render command \`${formatCommand(command)}\` exited ${result.exitCode}; its output is in ` +
      `${RENDER_LOG}, the manifests it rendered under ${RENDERED_DIR}/.`,
  };
}
