import path from 'node:path';
import fs from 'fs-extra';
import { messageOf, RehearseError } from '../errors.js';
import type { Redactor } from '../secrets/redact.js';
import { writeFileAtomic } from '../util/atomic-write.js';

/** What a ledger update did: `line` is the line added, or the one already there that made adding it unnecessary. */
export interface LedgerEntry {
  added: boolean;
  line: string;
}

const TASKS_HEADING = '## Tasks';
const EVIDENCE_HEADING = '## Evidence';
const ISO_DATE = /^\d{4}-\d{2}-\d{2}$/;

/**
 * The key as an HTML comment: invisible when the Markdown is rendered, stable for a rerun to find.
 * `--` and angle brackets would end or break the comment, so they are folded (the same key folds the same way).
 */
export function ledgerMarker(key: string): string {
  const folded = key.trim().replace(/-{2,}/g, '-').replace(/</g, '‹').replace(/>/g, '›');
  if (folded === '' || /[\r\n]/.test(folded))
    throw new Error(`ledger key ${JSON.stringify(key)} must be one non-empty line`);
  return `<!-- ${folded} -->`;
}

const oneLine = (text: string): string => text.replace(/\s*\r?\n\s*/g, ' ').trim();
const isOpenTask = (line: string): boolean => /^\s*[-*+] \[ \]/.test(line);
const isHeading = (line: string): boolean => /^#{1,2}\s/.test(line);
// An indented line continues the list item above it.
const continuesList = (line: string): boolean => /^\s*([-*+]|\d+[.)])\s/.test(line) || /^\s+\S/.test(line);

function taskLine(owner: string, text: string, key: string): string {
  return `- [ ] **${oneLine(owner)}** — ${oneLine(text)} ${ledgerMarker(key)}`;
}

function logLine(date: string, owner: string, text: string, key: string): string {
  if (!ISO_DATE.test(date)) throw new Error(`log date '${date}' is not YYYY-MM-DD`);
  return `- [x] **${date} · ${oneLine(owner)}** — ${oneLine(text)} ${ledgerMarker(key)}`;
}

function planLine(date: string, bundleName: string, location: string, verdict: string): string {
  if (!ISO_DATE.test(date)) throw new Error(`plan date '${date}' is not YYYY-MM-DD`);
  return `- ${date} ${planLink(bundleName, location)} — verdict ${verdict}`;
}

const planLinkText = (bundleName: string): string => `backfill rehearsal ${bundleName}`;
const planLink = (bundleName: string, location: string): string =>
  `[${planLinkText(bundleName)}](${/[\s()<>]/.test(location) ? `<${location}>` : location})`;

interface Lines {
  lines: string[];
  eol: string;
}

function splitLines(text: string): Lines {
  const lines = text.split(/\r?\n/);
  if (lines[lines.length - 1] === '') lines.pop();
  return { lines, eol: text.includes('\r\n') ? '\r\n' : '\n' };
}

const joinLines = ({ lines, eol }: Lines): string => lines.map((line) => `${line}${eol}`).join('');

/** Level 1 and 2 headings outside fenced code, by line index. */
function headingIndexes(lines: readonly string[]): number[] {
  const found: number[] = [];
  let fenced = false;
  lines.forEach((line, i) => {
    if (/^\s*(```|~~~)/.test(line)) fenced = !fenced;
    else if (!fenced && isHeading(line)) found.push(i);
  });
  return found;
}

/**
 * Puts `entry` after the last non-blank line between `after` (a heading, or -1 for the file's start)
 * and `end`, keeping the list tight when that line is a list item and blank lines around headings.
 */
function insertInRegion(lines: readonly string[], after: number, end: number, entry: string): string[] {
  let last = end - 1;
  while (last > after && lines[last]!.trim() === '') last -= 1;
  const tail = lines.slice(last + 1);
  const lastLine = last >= 0 ? lines[last]! : undefined;
  const before = lastLine === undefined || (last > after && continuesList(lastLine)) ? [] : [''];
  const afterEntry = tail.length > 0 && tail[0]!.trim() !== '' ? [''] : [];
  return [...lines.slice(0, last + 1), ...before, entry, ...afterEntry, ...tail];
}

/** Adds `entry` as the last line of the section under `heading`, adding the section at the end when missing. */
function appendToSection(text: string, heading: string, entry: string): string {
  const doc = splitLines(text);
  const headings = headingIndexes(doc.lines);
  const at = headings.find((i) => doc.lines[i]!.trim().toLowerCase() === heading.toLowerCase());
  if (at === undefined) {
    const lines = [...doc.lines];
    while (lines.length > 0 && lines[lines.length - 1]!.trim() === '') lines.pop();
    return joinLines({ ...doc, lines: [...lines, ...(lines.length ? [''] : []), heading, '', entry] });
  }
  const end = headings.find((i) => i > at) ?? doc.lines.length;
  return joinLines({ ...doc, lines: insertInRegion(doc.lines, at, end, entry) });
}

/** Adds `entry` after the last non-blank line of the file. */
function appendToEnd(text: string, entry: string): string {
  const doc = splitLines(text);
  return joinLines({ ...doc, lines: insertInRegion(doc.lines, -1, doc.lines.length, entry) });
}

async function readLedger(file: string): Promise<string | undefined> {
  try {
    return await fs.readFile(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    throw new RehearseError(
      'EVIDENCE_ROOT_UNWRITABLE',
      `cannot read the ledger ${file} (${code ?? messageOf(error)})`,
      {
        hint: 'fix its permissions, or point rehearse.config ledgers at another file',
        cause: error,
      },
    );
  }
}

/**
 * The one writer of files outside the bundle (ledgers meant to be committed): the whole text goes
 * through the command's redactor, as every bundle file does, so no known secret lands in one.
 */
async function writeLedger(file: string, text: string, redact: Redactor): Promise<void> {
  await writeFileAtomic(file, redact(text)).catch((error: NodeJS.ErrnoException) => {
    throw new RehearseError(
      'EVIDENCE_ROOT_UNWRITABLE',
      `cannot write the ledger ${file} (${error.code ?? messageOf(error)})`,
      { hint: 'fix its permissions, or point rehearse.config ledgers at another file', cause: error },
    );
  });
}

/** What to add to a ledger: `line`, unless a line `isSame` accepts is there already. */
interface LedgerAddition {
  line: string;
  /** The command's redactor: what the ledger gets, and what a rerun compares, is masked. */
  redact: Redactor;
  isSame: (line: string) => boolean;
  /** The ledger with the line added; `current` is undefined for a ledger not written yet. */
  place: (current: string | undefined, line: string) => string;
}

async function updateLedger(file: string, addition: LedgerAddition): Promise<LedgerEntry> {
  const { redact } = addition;
  const line = redact(addition.line);
  const current = await readLedger(file);
  const existing = current === undefined ? undefined : splitLines(current).lines.find(addition.isSame);
  if (existing !== undefined) return { added: false, line: existing };
  await writeLedger(file, addition.place(current, line), redact);
  return { added: true, line };
}

/** An entry filed under a key: a rerun finds the key's marker on the line and adds nothing. */
interface KeyedEntry {
  file: string;
  owner: string;
  text: string;
  key: string;
  redact: Redactor;
}

/** The marker as the ledger holds it: masked like the rest of the line. */
const carriesKey = (key: string, redact: Redactor): ((line: string) => boolean) => {
  const marker = redact(ledgerMarker(key));
  return (line) => line.includes(marker);
};

/** A task in Next_Steps.md's `## Tasks`, unless an open task with the same key is already there. */
export async function appendNextStepsTask(task: KeyedEntry): Promise<LedgerEntry> {
  const sameKey = carriesKey(task.key, task.redact);
  return updateLedger(task.file, {
    line: taskLine(task.owner, task.text, task.key),
    redact: task.redact,
    isSame: (line) => isOpenTask(line) && sameKey(line),
    place: (current, line) =>
      current === undefined
        ? `# Next steps\n\n${TASKS_HEADING}\n\n${line}\n`
        : appendToSection(current, TASKS_HEADING, line),
  });
}

/** A done entry at the end of Next_Steps_Log.md, once per key. */
export async function appendRehearsalLogEntry(entry: KeyedEntry & { date: string }): Promise<LedgerEntry> {
  return updateLedger(entry.file, {
    line: logLine(entry.date, entry.owner, entry.text, entry.key),
    redact: entry.redact,
    isSame: carriesKey(entry.key, entry.redact),
    place: (current, line) => appendToEnd(current ?? '# Next steps log\n', line),
  });
}

/** A link to the bundle under the rehearsal plan's `## Evidence`, once per bundle and copy. */
export async function linkBundleInPlan(options: {
  file: string;
  bundleName: string;
  location: string;
  verdict: string;
  date: string;
  redact: Redactor;
}): Promise<LedgerEntry> {
  const link = options.redact(planLink(options.bundleName, options.location));
  return updateLedger(options.file, {
    line: planLine(options.date, options.bundleName, options.location, options.verdict),
    redact: options.redact,
    isSame: (line) => line.includes(link),
    place: (current, line) => appendToSection(current ?? '# Staging rehearsal plan\n', EVIDENCE_HEADING, line),
  });
}

/** How a ledger beside `ledgerFile` refers to a bundle copy: a relative path inside the repository, else as it is. */
export function locationFrom(ledgerFile: string, destination: string, repoDir: string): string {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(destination)) return destination;
  const inRepo = path.relative(repoDir, destination);
  if (inRepo === '..' || inRepo.startsWith(`..${path.sep}`) || path.isAbsolute(inRepo)) return destination;
  return path.relative(path.dirname(ledgerFile), destination).split(path.sep).join('/');
}
