#!/usr/bin/env node
// Functions in src/ of more than MAX physical lines, counted from the line of the function's first token to the
// line of its last (Biome's noExcessiveLinesPerFunction skips lines it does not count and let 78-line ones pass).
// One may stay long with a reason in a comment right above it: `// long: <reason>`, or the reason of a
// `biome-ignore lint/complexity/noExcessiveLinesPerFunction: <reason>`.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';

const MAX = 60;
const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const REASON = /^\s*\/\/\s*(?:long:|biome-ignore lint\/complexity\/noExcessiveLinesPerFunction:)\s*(\S.*)$/;

function* sourceFiles(dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) yield* sourceFiles(full);
    else if (/\.tsx?$/.test(entry.name) && !entry.name.endsWith('.d.ts')) yield full;
  }
}

/** What a reader calls the function: its declaration's name, or the variable or property it is assigned to. */
function nameOf(node) {
  if (node.name) return node.name.getText();
  const parent = node.parent;
  if (parent && (ts.isVariableDeclaration(parent) || ts.isPropertyAssignment(parent))) return parent.name.getText();
  return '(anonymous)';
}

/** The reason in the comments right above the statement that holds the function, if any. */
function reasonFor(node, source) {
  let holder = node;
  while (
    holder.parent &&
    !ts.isSourceFile(holder.parent) &&
    !ts.isBlock(holder.parent) &&
    !ts.isClassDeclaration(holder.parent) &&
    !ts.isObjectLiteralExpression(holder.parent)
  ) {
    holder = holder.parent;
  }
  const comments = ts.getLeadingCommentRanges(source.text, holder.getFullStart()) ?? [];
  for (const comment of comments) {
    for (const line of source.text.slice(comment.pos, comment.end).split('\n')) {
      const match = REASON.exec(line);
      if (match) return match[1];
    }
  }
  return undefined;
}

function longFunctions(file) {
  const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
  const found = [];
  const visit = (node) => {
    if (ts.isFunctionLike(node) && 'body' in node && node.body) {
      const first = source.getLineAndCharacterOfPosition(node.getStart(source)).line;
      const last = source.getLineAndCharacterOfPosition(node.getEnd()).line;
      const lines = last - first + 1;
      if (lines > MAX) found.push({ file, line: first + 1, name: nameOf(node), lines, reason: reasonFor(node, source) });
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

const all = [...sourceFiles(path.join(ROOT, 'src'))].flatMap(longFunctions);
const unexplained = all.filter((f) => !f.reason);
const where = (f) => `${path.relative(ROOT, f.file)}:${f.line} ${f.name} (${f.lines} lines)`;
if (process.argv.includes('--list')) for (const f of all) console.log(`${where(f)}${f.reason ? `: ${f.reason}` : ''}`);
if (unexplained.length > 0) {
  console.error(`functions over ${MAX} lines without a reason (split them, or say why above them with // long: <reason>):`);
  for (const f of unexplained) console.error(`  ${where(f)}`);
  process.exit(1);
}
console.log(`function lengths: none over ${MAX} lines without a reason (${all.length} with one)`);
