import path from 'node:path';
import fs from 'fs-extra';
import { isRehearseError } from '../errors.js';
import { type Manifest, parseManifestText } from '../guardrails/manifest.js';

/** What a project checkout says about itself, before anything is run. */
export interface ProjectFacts {
  /** Relative to the project directory, e.g. prefect/deployments/hotpass-backfill.yaml. */
  manifestPath?: string;
  manifest?: Manifest;
  /** Every manifest found, when more than one could be the backfill. */
  otherManifests: string[];
  /** A directory of staging overlays next to the manifests, e.g. prefect/staging. */
  manifestDir?: string;
  /** The project's console scripts, from pyproject.toml's [project.scripts]. */
  scripts: string[];
  usesUv: boolean;
  /** Things read but not understood. */
  problems: string[];
}

const MANIFEST_DIR = 'prefect/deployments';

/** Names from a `[project.scripts]` table: `name = "module:function"` lines until the next table. */
function scriptsOf(pyproject: string): string[] {
  const names: string[] = [];
  let inScripts = false;
  for (const line of pyproject.split('\n')) {
    const trimmed = line.trim();
    if (trimmed.startsWith('[')) {
      inScripts = trimmed === '[project.scripts]';
      continue;
    }
    const match = inScripts ? /^"?([A-Za-z0-9_.-]+)"?\s*=/.exec(trimmed) : null;
    if (match?.[1]) names.push(match[1]);
  }
  return names;
}

/** The backfill manifest first: its name or file says backfill; otherwise the first in name order. */
function rankManifests(files: string[]): string[] {
  const score = (file: string): number => (/backfill/i.test(path.basename(file)) ? 0 : 1);
  return [...files].sort((a, b) => score(a) - score(b) || a.localeCompare(b));
}

async function listYaml(dir: string): Promise<string[]> {
  if (!(await fs.pathExists(dir))) return [];
  return (await fs.readdir(dir)).filter((name) => /\.ya?ml$/.test(name)).sort();
}

export async function readProject(projectDir: string): Promise<ProjectFacts> {
  const facts: ProjectFacts = { otherManifests: [], scripts: [], usesUv: false, problems: [] };
  const candidates = rankManifests(
    (await listYaml(path.join(projectDir, MANIFEST_DIR))).map((name) => `${MANIFEST_DIR}/${name}`),
  );
  for (const candidate of candidates) {
    try {
      const manifest = await parseManifestText(await fs.readFile(path.join(projectDir, candidate), 'utf8'), candidate);
      if (!facts.manifest) {
        facts.manifest = manifest;
        facts.manifestPath = candidate;
      } else facts.otherManifests.push(candidate);
    } catch (error) {
      if (!isRehearseError(error)) throw error;
      facts.problems.push(`${candidate}: ${error.message}`);
    }
  }
  // The staging overlay the deploy command applies: prefect/staging when the project has one.
  for (const dir of ['prefect/staging', 'prefect/overlays/staging']) {
    if ((await listYaml(path.join(projectDir, dir))).length > 0) {
      facts.manifestDir = dir;
      break;
    }
  }
  const pyproject = path.join(projectDir, 'pyproject.toml');
  if (await fs.pathExists(pyproject)) facts.scripts = scriptsOf(await fs.readFile(pyproject, 'utf8'));
  facts.usesUv = await fs.pathExists(path.join(projectDir, 'uv.lock'));
  return facts;
}
