#!/usr/bin/env node
// @ts-check
// No cycles between the folders of src/: every relative import, resolved and grouped by the first folder under
// src/ (each step folder, steps/<step>, is a folder of its own; steps/'s own files are the node `steps`). Root files
// (context.ts, session.ts, ...) are left out: they tie the folders together. Prints each cycle with one import per
// edge and exits 1. `node scripts/folder-cycles.js [dir]` checks another tree (the tests use it).
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const SRC = path.resolve(process.argv[2] ?? path.join(ROOT, 'src'));
const IMPORT = /(?:from |import\()'(\.{1,2}\/[^']+)'/g;

/** @param {string} dir @returns {Generator<string>} */
function* sourceFiles(dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) yield* sourceFiles(full);
    else if (/\.ts$/.test(entry.name) && !entry.name.endsWith('.d.ts')) yield full;
  }
}

/** The folder a file counts for, or undefined for a root file. @param {string} file */
function nodeOf(file) {
  const parts = path.relative(SRC, file).split(path.sep);
  if (parts.length === 1 || parts[0]?.startsWith('..')) return undefined;
  return parts[0] === 'steps' && parts.length > 2 ? `steps/${parts[1]}` : parts[0];
}

/** @type {Map<string, Map<string, string>>} folder -> folder it imports -> one such import */
const edges = new Map();
for (const file of sourceFiles(SRC)) {
  const from = nodeOf(file);
  if (from === undefined) continue;
  if (!edges.has(from)) edges.set(from, new Map());
  for (const match of readFileSync(file, 'utf8').matchAll(IMPORT)) {
    const to = nodeOf(path.resolve(path.dirname(file), match[1] ?? ''));
    const out = edges.get(from);
    if (to === undefined || to === from || !out || out.has(to)) continue;
    out.set(to, `${path.relative(SRC, file)} imports '${match[1]}'`);
  }
}

/** Tarjan's strongly connected components; each one of more than one folder is a cycle. */
function components() {
  let next = 0;
  /** @type {Map<string, {index: number, low: number}>} */
  const seen = new Map();
  /** @type {string[]} */
  const stack = [];
  /** @type {string[][]} */
  const found = [];
  /** @param {string} node */
  const visit = (node) => {
    const mark = { index: next, low: next };
    next += 1;
    seen.set(node, mark);
    stack.push(node);
    for (const to of edges.get(node)?.keys() ?? []) {
      const other = seen.get(to);
      if (!other) {
        visit(to);
        mark.low = Math.min(mark.low, seen.get(to)?.low ?? mark.low);
      } else if (stack.includes(to)) mark.low = Math.min(mark.low, other.index);
    }
    if (mark.low !== mark.index) return;
    const component = stack.splice(stack.indexOf(node));
    if (component.length > 1) found.push(component.sort());
  };
  for (const node of [...edges.keys()].sort()) if (!seen.has(node)) visit(node);
  return found;
}

const cycles = components();
for (const folders of cycles) {
  console.log(`folder cycle: ${folders.join(', ')}`);
  for (const from of folders) {
    for (const [to, example] of edges.get(from) ?? []) if (folders.includes(to)) console.log(`  ${from} -> ${to}: ${example}`);
  }
}
if (cycles.length > 0) process.exit(1);
console.log(`folder cycles: none among ${edges.size} folders`);
