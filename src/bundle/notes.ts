import path from 'node:path';
import fs from 'fs-extra';
import type { Check } from '../guardrails/verdict.js';
import { type Bundle, writeEvidence } from './bundle.js';

export const NOTES_FILE = 'notes.md';
const OPERATOR_HEADING = '## Operator notes';

const begin = (section: string): string => `<!-- rehearse:${section} -->`;
const end = (section: string): string => `<!-- /rehearse:${section} -->`;

function cell(value: unknown): string {
  const text = value === undefined ? '' : typeof value === 'string' ? value : JSON.stringify(value);
  return text.replaceAll('|', '\\|').replaceAll('\n', ' ');
}

export function table(headers: string[], rows: unknown[][]): string {
  return [
    `| ${headers.join(' | ')} |`,
    `| ${headers.map(() => '---').join(' | ')} |`,
    ...rows.map((row) => `| ${row.map(cell).join(' | ')} |`),
  ].join('\n');
}

/** A deviations table for the checks that did not pass; a line saying so when all did. */
export function deviationsMarkdown(checks: readonly Check[]): string {
  const deviations = checks.filter((c) => c.verdict !== 'pass');
  if (deviations.length === 0) return `All ${checks.length} checks matched the manifest.`;
  return table(
    ['check', 'verdict', 'expected', 'found', 'why'],
    deviations.map((c) => [c.id, c.verdict, c.expected, c.actual, c.reason]),
  );
}

function skeleton(bundleName: string): string {
  return `# Rehearsal notes ${bundleName}\n\nWritten by rehearse; each section is replaced when its step reruns. Add your own notes under "${OPERATOR_HEADING.slice(3)}": rehearse never changes them.\n\n${OPERATOR_HEADING}\n\n`;
}

/**
 * The section's block put in place of its earlier block, or the first time before the operator's notes
 * (`first`: before every other section, the verdict a reader looks for before the steps' detail).
 */
function withSection(current: string, section: string, block: string, first: boolean): string {
  const start = current.indexOf(begin(section));
  const stop = current.indexOf(end(section));
  if (start >= 0 && stop > start) return current.slice(0, start) + block + current.slice(stop + end(section).length);
  const earliest = current.indexOf('<!-- rehearse:');
  if (first && earliest >= 0) return `${current.slice(0, earliest)}${block}\n\n${current.slice(earliest)}`;
  const operator = current.indexOf(OPERATOR_HEADING);
  return operator >= 0
    ? `${current.slice(0, operator)}${block}\n\n${current.slice(operator)}`
    : `${current.trimEnd()}\n\n${block}\n`;
}

/** The rewrite of each bundle's notes under way: the next starts from the file the last one wrote. */
const pending = new Map<string, Promise<unknown>>();

/** Replace (or add) one step's section, keeping everything an operator wrote. Steps side by side take turns. */
export async function updateNotes(
  bundle: Bundle,
  section: string,
  heading: string,
  body: string,
  now: Date,
  options: { first?: boolean } = {},
): Promise<string> {
  const file = path.join(bundle.dir, NOTES_FILE);
  const block = `${begin(section)}\n## ${heading}\n\n${body.trim()}\n${end(section)}`;
  const rewrite = async (): Promise<string> => {
    const current = (await fs.pathExists(file)) ? await fs.readFile(file, 'utf8') : skeleton(bundle.name);
    return writeEvidence(bundle, NOTES_FILE, withSection(current, section, block, options.first ?? false), now);
  };
  const next = (pending.get(bundle.dir) ?? Promise.resolve()).catch(() => undefined).then(rewrite);
  pending.set(bundle.dir, next);
  return next;
}
