import path from 'node:path';
import fs from 'fs-extra';
import { type Bundle, writeEvidence } from '../../bundle/bundle.js';
import type { Context } from '../../context.js';
import { messageOf, RehearseError } from '../../errors.js';
import type { Manifest } from '../../guardrails/manifest.js';
import { pickRendered, RENDER_LOG, RENDERED_DIR, type RenderOutcome, SPECS_FILE, specsAsManifests } from './output.js';
import type { RenderPlan } from './plan.js';

/**
 * Renders the deployment manifests as a manifest-driven deploy command (the upstream hotpass shape)
 * would apply them, without running it: every YAML/JSON manifest under the manifest directory, one
 * per id (its `id`, else its file name; the deeper file wins a tie), the ids its `--flow` flags
 * select, then the overrides its other flags give.
 */

export interface DeployInvocation {
  manifestDir: string | undefined;
  flows: string[];
  name?: string;
  workPool?: string;
  schedule?: string;
}

/** The flags of the deploy command that change what gets applied; `--flag value` and `--flag=value`. */
export function parseDeployArgs(args: readonly string[]): DeployInvocation {
  const found: DeployInvocation = { manifestDir: undefined, flows: [] };
  for (let i = 0; i < args.length; i += 1) {
    const arg = args[i] ?? '';
    const eq = arg.indexOf('=');
    const flag = eq > 0 ? arg.slice(0, eq) : arg;
    // A flag's value is either after '=' or the next argument, which the loop then skips.
    // biome-ignore lint/suspicious/noAssignInExpressions: advancing past the value is the point
    const value = (): string | undefined => (eq > 0 ? arg.slice(eq + 1) : args[(i += 1)]);
    if (flag === '--manifest-dir') found.manifestDir = value();
    else if (flag === '--flow') found.flows.push(value() ?? '');
    else if (flag === '--name') found.name = value();
    else if (flag === '--work-pool') found.workPool = value();
    else if (flag === '--schedule') found.schedule = value();
  }
  return found;
}

export interface ManifestSource {
  id: string;
  /** Path relative to the project directory, with forward slashes. */
  rel: string;
  text: string;
  doc: Record<string, unknown>;
}

const MANIFEST_FILE = /\.(ya?ml|json)$/i;

async function listFiles(dir: string): Promise<string[]> {
  const entries = await fs.readdir(dir, { withFileTypes: true });
  const nested = await Promise.all(
    entries.map(async (entry) => {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) return listFiles(full);
      return entry.isFile() && MANIFEST_FILE.test(entry.name) ? [full] : [];
    }),
  );
  return nested.flat();
}

/** Every manifest under `manifestDir`, one per id, as the deploy command would pick them. */
export async function loadManifests(projectDir: string, manifestDir: string): Promise<ManifestSource[]> {
  const root = path.resolve(projectDir, manifestDir);
  if (!(await fs.pathExists(root))) {
    throw new RehearseError('CONFIG_INVALID', `manifest directory not found: ${root}`, {
      hint:
        'set --manifest-dir in render.deployCommand (or "manifestDir" in rehearse.config) to the directory ' +
        'your deploy applies',
    });
  }
  const { parse } = await import('yaml');
  const byId = new Map<string, { depth: number; source: ManifestSource }>();
  for (const file of (await listFiles(root)).sort()) {
    const text = await fs.readFile(file, 'utf8');
    const rel = path.relative(projectDir, file).split(path.sep).join('/');
    let doc: unknown;
    try {
      doc = parse(text);
    } catch (error) {
      const first = messageOf(error).split('\n')[0] ?? '';
      throw new RehearseError('CONFIG_INVALID', `manifest ${rel} is not valid YAML`, { details: [first] });
    }
    if (!doc || typeof doc !== 'object' || Array.isArray(doc)) {
      throw new RehearseError('CONFIG_INVALID', `manifest ${rel} is not a mapping`, {
        hint: 'the deploy command would refuse it too',
      });
    }
    const record = doc as Record<string, unknown>;
    const id = typeof record.id === 'string' && record.id ? record.id : path.basename(file).replace(MANIFEST_FILE, '');
    const depth = path.relative(root, file).split(path.sep).length;
    const previous = byId.get(id);
    if (previous && depth <= previous.depth) continue;
    byId.set(id, { depth, source: { id, rel, text, doc: record } });
  }
  return [...byId.values()].map((entry) => entry.source);
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** One selected manifest with the command's overrides applied: what the deploy would register. */
export function renderSpec(source: ManifestSource, invocation: DeployInvocation): Record<string, unknown> {
  const doc = source.doc;
  const schedule = isRecord(doc.schedule) ? doc.schedule : undefined;
  // An inactive schedule in the manifest registers the deployment paused.
  const paused = typeof doc.paused === 'boolean' ? doc.paused : schedule ? schedule.active === false : false;
  const spec: Record<string, unknown> = { ...doc, id: source.id, source: source.rel, paused };
  if (invocation.name) spec.name = invocation.name;
  if (invocation.workPool) spec.work_pool = invocation.workPool;
  const wanted = invocation.schedule?.trim();
  if (wanted !== undefined) {
    spec.schedule = ['', 'none', 'off'].includes(wanted.toLowerCase())
      ? null
      : {
          kind: 'cron',
          value: wanted,
          timezone: schedule?.timezone ?? 'UTC',
          ...(schedule?.anchor_date ? { anchor_date: schedule.anchor_date } : {}),
        };
  }
  return spec;
}

/** The manifests the command selects, rendered; none selected is an error naming the ids there are. */
function selectSpecs(
  sources: readonly ManifestSource[],
  invocation: DeployInvocation,
  manifestDir: string,
): Record<string, unknown>[] {
  const selected = invocation.flows.length ? sources.filter((s) => invocation.flows.includes(s.id)) : [...sources];
  if (selected.length === 0) {
    const ids = invocation.flows.join(', ') || '(any)';
    throw new RehearseError('CONFIG_INVALID', `no manifest under ${manifestDir} has id ${ids}`, {
      details: sources.map((s) => `${s.rel}: id ${s.id}`),
      hint: 'set --flow in render.deployCommand to the id of the backfill manifest',
    });
  }
  return selected.map((source) => renderSpec(source, invocation));
}

type ManifestsPlan = Extract<RenderPlan, { kind: 'manifests' }>;

function describeOverrides(invocation: DeployInvocation): string {
  const given = [
    invocation.name && `--name ${invocation.name}`,
    invocation.workPool && `--work-pool ${invocation.workPool}`,
    invocation.schedule !== undefined && `--schedule ${invocation.schedule}`,
  ].filter(Boolean);
  return given.join(', ') || 'none';
}

/** The manifests rendered by rehearse itself, as the deploy command would apply them: nothing is run. */
export async function renderManifests(
  ctx: Context,
  bundle: Bundle,
  plan: ManifestsPlan,
  repo: Manifest,
): Promise<RenderOutcome> {
  const invocation = parseDeployArgs(plan.deployCommand);
  const manifestDir = invocation.manifestDir ?? ctx.config.manifestDir;
  const sources = await loadManifests(ctx.prefect.projectDir, manifestDir);
  const specs = selectSpecs(sources, invocation, manifestDir);
  const now = ctx.now();
  const renderedFiles: string[] = [];
  const root = path.posix.normalize(manifestDir.split(path.sep).join('/'));
  for (const source of sources) {
    const inside = path.posix.relative(root, source.rel);
    const rel = inside.startsWith('..') ? path.posix.basename(source.rel) : inside;
    renderedFiles.push(await writeEvidence(bundle, `${RENDERED_DIR}/${rel}`, source.text, now));
  }
  renderedFiles.push(await writeEvidence(bundle, SPECS_FILE, `${JSON.stringify(specs, null, 2)}\n`, now));
  const log = [
    `rehearse rendered the manifests itself: ${plan.why}.`,
    `deploy command (not run): ${plan.deployCommand.join(' ')}`,
    `manifest directory: ${manifestDir}; manifests: ${sources.map((s) => `${s.rel} (id ${s.id})`).join(', ')}`,
    `selected: ${invocation.flows.join(', ') || 'all'}; overrides: ${describeOverrides(invocation)}`,
    '',
    JSON.stringify(specs, null, 2),
    '',
  ].join('\n');
  const files = [await writeEvidence(bundle, RENDER_LOG, log, now), ...renderedFiles];
  const staging = pickRendered(specsAsManifests(specs), repo);
  if (!staging) {
    throw new RehearseError('CONFIG_INVALID', `the render selected no deployment named ${repo.name}`, {
      details: specs.map((s) => `${String(s.source)}: ${String(s.name)}`),
      hint: 'set --flow in render.deployCommand to the id of the backfill manifest',
      data: { files },
    });
  }
  return {
    files,
    renderedFiles,
    staging,
    data: { deployCommand: plan.deployCommand, manifestDir, selected: specs.map((s) => s.id) },
    summaryLine:
      `rehearse rendered the manifests itself and ran no deploy command; ${RENDER_LOG} says how, ` +
      `${RENDERED_DIR}/ holds the manifests and the specs the deploy would register.`,
  };
}
