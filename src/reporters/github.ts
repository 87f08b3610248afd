import { appendFile, readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Writable } from 'node:stream';
import type { Summary } from '../bundle/summary.js';
import { messageOf } from '../errors.js';
import { maskJson, type Redactor } from '../secrets/redact.js';
import { type CommandResult, onResult, type Reporter } from './events.js';
import { renderGithubSummary } from './github-summary.js';

export interface GithubOptions {
  env: NodeJS.ProcessEnv;
  /** Where the workflow commands go: GitHub reads them from stdout only. */
  stdout: Writable;
  /** Where a summary file that cannot be written is told of. */
  stderr: Writable;
  redact: Redactor;
  /** Off with --json, whose stdout carries one JSON document and nothing else. */
  annotations: boolean;
  /** The repository's root when GITHUB_WORKSPACE is not set: annotation paths are relative to it. */
  cwd: string;
}

/** A workflow command's message: % and line breaks escaped as GitHub requires. */
const escapeData = (text: string): string => text.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
/** A workflow command's property value: the message's escapes, and ',' and ':'. */
export const escapeProperty = (text: string): string => escapeData(text).replace(/:/g, '%3A').replace(/,/g, '%2C');

/** Check id → the manifest key (dotted) that declares the guardrail, for the few ids not named after it. */
const DECLARED_BY: Record<string, string> = {
  deployment_limit: 'concurrency_limit',
  manifest_limit: 'concurrency_limit',
  collision_strategy: 'collision_strategy',
  work_pool: 'work_pool',
  concurrency_key: 'parameters.concurrency_key',
  global_limit: 'parameters.concurrency_limit',
  global_limit_active: 'parameters.concurrency_key',
  parameters: 'parameters',
};

function manifestKeyOf(checkId: string): string | undefined {
  const [head = '', ...rest] = checkId.split('.');
  if (head === 'deployment') return rest.join('.');
  if (head === 'parameters') return checkId;
  return DECLARED_BY[rest.join('.')] ?? DECLARED_BY[head];
}

const keyLine = (key: string): RegExp =>
  new RegExp(`^(\\s*)(-\\s+)?${key.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\s*:`);

/**
 * The 1-based line declaring a dotted key, by a plain text search: the first segment at its shallowest
 * indentation, each next one further in below it (before the block ends). Undefined when not found.
 */
export function findKeyLine(text: string, dotted: string): number | undefined {
  const lines = text.split(/\r?\n/);
  const indentOf = (m: RegExpMatchArray): number => (m[1] ?? '').length + (m[2] ?? '').length;
  const [first = '', ...rest] = dotted.split('.');
  let at = -1;
  let indent = Number.POSITIVE_INFINITY;
  lines.forEach((line, i) => {
    const m = line.match(keyLine(first));
    if (m && indentOf(m) < indent) [at, indent] = [i, indentOf(m)];
  });
  for (const key of rest) {
    if (at < 0) return undefined;
    let found = -1;
    for (let i = at + 1; i < lines.length && found < 0; i++) {
      const line = lines[i] ?? '';
      if (!line.trim() || line.trim().startsWith('#')) continue;
      if ((line.match(/^\s*/)?.[0].length ?? 0) <= indent) break;
      const m = line.match(keyLine(key));
      if (m) [found, indent] = [i, indentOf(m)];
    }
    at = found;
  }
  return at < 0 ? undefined : at + 1;
}

/** The command's working directory (the project dir is relative to it) and the repository's root. */
interface Where {
  cwd: string;
  root: string;
}

interface ManifestFile {
  /** Relative to the repository, as annotations want it; undefined when outside it. */
  file: string | undefined;
  text: string;
}

async function readManifest(summary: Summary, where: Where): Promise<ManifestFile | undefined> {
  const { manifest, projectDir } = summary.target;
  if (typeof manifest !== 'string') return undefined;
  const full = path.resolve(where.cwd, typeof projectDir === 'string' ? projectDir : '.', manifest);
  const root = where.root;
  const text = await readFile(full, 'utf8').catch(() => undefined);
  if (text === undefined) return undefined;
  const rel = path.relative(root, full);
  return { file: rel.startsWith('..') || path.isAbsolute(rel) ? undefined : rel.split(path.sep).join('/'), text };
}

/** `::error` for each failed check, `::warning` for each inconclusive one, and `::error` for an error. */
async function renderAnnotations(result: CommandResult, where: Where, redact: Redactor): Promise<string> {
  const summary = result.summary ? maskJson(result.summary, redact).value : undefined;
  const manifest = summary ? await readManifest(summary, where) : undefined;
  const line = (kind: 'error' | 'warning', title: string, message: string, key?: string): string => {
    const at = manifest?.file && key ? findKeyLine(manifest.text, key) : undefined;
    const where = manifest?.file && at ? `file=${escapeProperty(manifest.file)},line=${at},` : '';
    return `::${kind} ${where}title=${escapeProperty(redact(title))}::${escapeData(redact(message))}\n`;
  };
  const lines = (summary?.checks ?? [])
    .filter((c) => c.verdict !== 'pass')
    .map((c) => {
      const key = manifestKeyOf(c.id);
      return line(c.verdict === 'fail' ? 'error' : 'warning', c.id, c.reason, key);
    });
  if (result.error) lines.push(line('error', result.error.code, result.error.message));
  return lines.join('');
}

async function appendSummary(result: CommandResult, options: GithubOptions): Promise<void> {
  const file = options.env.GITHUB_STEP_SUMMARY;
  const warn = (why: string): void => {
    options.stderr.write(`! GitHub job summary not written: ${why}\n`);
  };
  if (!file) return warn('GITHUB_STEP_SUMMARY is not set');
  const masked = { ...result, ...(result.summary ? { summary: maskJson(result.summary, options.redact).value } : {}) };
  const text = options.redact(renderGithubSummary(masked));
  try {
    await appendFile(file, text, 'utf8');
  } catch (error) {
    warn(options.redact(messageOf(error)));
  }
}

/**
 * The step's outputs (`steps.<id>.outputs.verdict`, `exit-code`, `bundle`) when the runner gives an output file:
 * what a later step or the action's artefact upload reads. The bundle is absolute, whatever the step's directory.
 */
async function appendOutputs(result: CommandResult, options: GithubOptions): Promise<void> {
  const file = options.env.GITHUB_OUTPUT;
  if (!file) return;
  const bundle = result.bundle ? path.resolve(options.cwd, result.bundle) : '';
  const outputs = {
    verdict: result.summary?.verdict ?? result.verdict,
    'exit-code': String(result.exitCode),
    bundle: /[\r\n]/.test(bundle) ? '' : bundle,
  };
  const text = Object.entries(outputs)
    .map(([key, value]) => `${key}=${options.redact(value)}\n`)
    .join('');
  try {
    await appendFile(file, text, 'utf8');
  } catch (error) {
    options.stderr.write(`! GitHub step outputs not written: ${options.redact(messageOf(error))}\n`);
  }
}

/** Under GitHub Actions (or --github): the job summary appended, the step's outputs, and annotations for what failed. */
export function createGithubReporter(options: GithubOptions): Reporter {
  return onResult(async (result) => {
    await appendSummary(result, options);
    await appendOutputs(result, options);
    if (!options.annotations) return;
    const where = { cwd: options.cwd, root: options.env.GITHUB_WORKSPACE || options.cwd };
    const text = await renderAnnotations(result, where, options.redact);
    if (text) await new Promise<void>((resolve) => options.stdout.write(text, () => resolve()));
  });
}
