import { type Manifest, ManifestSchema } from '../../guardrails/manifest.js';

/** Pure readers of what a render printed, and the names of what it leaves in the bundle. */

/** The end of the `{...}` block starting at `start`, braces inside JSON strings not counted; -1 when unbalanced. */
function blockEnd(text: string, start: number): number {
  let depth = 0;
  let inString = false;
  for (let i = start; i < text.length; i += 1) {
    const ch = text[i];
    if (inString) {
      if (ch === '\\') i += 1;
      else if (ch === '"') inString = false;
    } else if (ch === '"') {
      inString = true;
    } else if (ch === '{') {
      depth += 1;
    } else if (ch === '}') {
      depth -= 1;
      if (depth === 0) return i;
    }
  }
  return -1;
}

/**
 * Every top-level JSON object in output that mixes them with prose (hotpass prints a
 * `--- rendered ...` line before each spec). A `{` that opens no valid JSON is skipped.
 */
export function extractJsonObjects(text: string): Record<string, unknown>[] {
  const found: Record<string, unknown>[] = [];
  let from = 0;
  for (let start = text.indexOf('{', from); start >= 0; start = text.indexOf('{', from)) {
    const end = blockEnd(text, start);
    from = start + 1;
    if (end < 0) continue;
    try {
      const value = JSON.parse(text.slice(start, end + 1)) as unknown;
      if (value && typeof value === 'object' && !Array.isArray(value)) {
        found.push(value as Record<string, unknown>);
        from = end + 1;
      }
    } catch {
      // Prose with a brace in it: look on from the next one.
    }
  }
  return found;
}

const FLAG = /^-{1,2}[A-Za-z0-9][\w-]*(=.*)?$/;

/**
 * The options a CLI said it does not accept: argparse (`error: unrecognized arguments: --a --b`),
 * click and typer (`No such option: --a`), and the `Unknown option` of other parsers.
 */
export function rejectedOptions(output: string): string[] {
  const flags: string[] = [];
  for (const match of output.matchAll(/unrecognized arguments:([^\n]*)/gi)) {
    const tokens = (match[1] ?? '').trim().split(/\s+/).filter(Boolean);
    const named = tokens.filter((token) => FLAG.test(token));
    flags.push(...(named.length > 0 ? named : tokens));
  }
  for (const match of output.matchAll(
    /(?:no such option|unknown option)s?\b[:\s]*['"`‘]?(-{1,2}[A-Za-z0-9][\w-]*)/gi,
  )) {
    if (match[1]) flags.push(match[1]);
  }
  return [...new Set(flags.map((flag) => flag.replace(/=.*$/, '')))];
}

export const RENDER_LOG = 'render.log';
export const RENDERED_DIR = 'rendered';
export const SPECS_FILE = `${RENDERED_DIR}/specs.json`;

/** A rendered deployment; `printed`: taken from the specs the render produced, not a manifest file. */
export interface Rendered {
  rel: string;
  manifest: Manifest;
  printed?: boolean;
}

/** What one way of rendering leaves for the drift table and the step's record. */
export interface RenderOutcome {
  files: string[];
  renderedFiles: string[];
  staging: Rendered;
  data: Record<string, unknown>;
  summaryLine: string;
}

/** The deployment under rehearsal among rendered ones: named as the repository's, else the only one. */
export function pickRendered(candidates: readonly Rendered[], repo: Manifest): Rendered | undefined {
  const named = candidates.filter((c) => c.manifest.name === repo.name);
  return (
    named.find((c) => c.manifest.id === repo.id) ?? named[0] ?? (candidates.length === 1 ? candidates[0] : undefined)
  );
}

/** Rendered specs as manifests: what a dry run printed is what the deploy would apply. */
export function specsAsManifests(specs: readonly Record<string, unknown>[]): Rendered[] {
  return specs.flatMap((spec) => {
    const parsed = ManifestSchema.safeParse(spec);
    if (!parsed.success) return [];
    return [{ rel: typeof spec.source === 'string' ? spec.source : SPECS_FILE, manifest: parsed.data, printed: true }];
  });
}
