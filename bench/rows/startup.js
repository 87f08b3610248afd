// @ts-check
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { cli, node, quick, repo } from '../lib/options.js';
import { addRow, judge, log, median, ms, notes, raw, tail, x } from '../lib/table.js';

/** Row 1: start-up of the CLI against bare node, interleaved so drift hits every command alike. */
async function startupRows() {
  const runs = quick ? 5 : 15;
  const commands = {
    'node -e ""': ['-e', ''],
    'rehearse --version': [cli, '--version'],
    'rehearse --help': [cli, '--help'],
  };
  /** @typedef {keyof typeof commands} Name */
  const names = /** @type {Name[]} */ (Object.keys(commands));
  /** @type {Record<Name, number[]>} */
  const times = { 'node -e ""': [], 'rehearse --version': [], 'rehearse --help': [] };
  const once = (/** @type {Name} */ name) => {
    const started = performance.now();
    const result = spawnSync(node, commands[name], {
      cwd: repo,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, NO_COLOR: '1' },
    });
    const elapsed = performance.now() - started;
    if (result.status !== 0) throw new Error(`${name} exited ${result.status}: ${tail(String(result.stderr), 5)}`);
    return elapsed;
  };
  for (const name of names) once(name); // warm the file cache, untimed
  for (let i = 0; i < runs; i += 1) {
    for (let k = 0; k < names.length; k += 1) {
      const name = /** @type {Name} an index below names.length */ (names[(i + k) % names.length]);
      times[name].push(once(name));
    }
  }
  const bare = median(times['node -e ""']);
  raw.startup = { runs, timesMs: times, medianMs: Object.fromEntries(names.map((n) => [n, median(times[n])])) };
  for (const name of /** @type {const} */ (['rehearse --version', 'rehearse --help'])) {
    const m = median(times[name]);
    const ratio = m / bare;
    const why = `${ms(m - bare)} over bare node; see the note on start-up`;
    addRow({
      row: `1 start-up ${name.replace('rehearse ', '')}`,
      figure: `${x(ratio)} bare node (${ms(m)} vs ${ms(bare)}, median of ${runs})`,
      goal: '≤ 1.3x',
      ratio,
      ...judge(ratio <= 1.3, why),
    });
  }
  if (!quick && (median(times['rehearse --version']) / bare > 1.3 || median(times['rehearse --help']) / bare > 1.3)) {
    notes.push(startupNote());
  }
}

/** The modules `import`ed statically from a compiled file (dynamic import() calls are not followed). */
/** @param {string} file */
function staticImports(file) {
  const text = fs.readFileSync(file, 'utf8');
  return [...text.matchAll(/^\s*(?:import|export)\s+(?:[^'"]*?\sfrom\s+)?['"]([^'"]+)['"]/gm)].map((m) => m[1] ?? '');
}

/** Every file and package that loading `entry` loads, with the chain of files that pulls each package in. */
/** @param {string} entry */
function importGraph(entry) {
  const seen = new Set([entry]);
  /** @type {Map<string, string[]>} */
  const packages = new Map();
  /** @type {[string, string[]][]} */
  const queue = [[entry, []]];
  for (let item = queue.shift(); item; item = queue.shift()) {
    const [file, chain] = item;
    const here = [...chain, path.relative(path.join(repo, 'dist'), file)];
    for (const spec of staticImports(file)) {
      if (spec.startsWith('node:')) continue;
      if (spec.startsWith('.')) {
        const next = path.resolve(path.dirname(file), spec);
        if (!seen.has(next) && fs.existsSync(next)) {
          seen.add(next);
          queue.push([next, here]);
        }
      } else {
        const name = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : (spec.split('/')[0] ?? spec);
        if (!packages.has(name)) packages.set(name, here);
      }
    }
  }
  return { files: [...seen].map((f) => path.relative(repo, f)), packages };
}

/** Milliseconds to import a module in a fresh node (median of 3). */
/**
 * @param {string} specifier
 * @returns {number | undefined}
 */
function importMs(specifier) {
  const script = `const t = performance.now(); await import(${JSON.stringify(specifier)}); console.log(performance.now() - t);`;
  const times = [];
  for (let i = 0; i < 3; i += 1) {
    const result = spawnSync(node, ['--input-type=module', '-e', script], { cwd: repo, encoding: 'utf8' });
    if (result.status !== 0) return undefined;
    times.push(Number(result.stdout.trim()));
  }
  return median(times);
}

/** Where start-up goes: what `--version` and `--help` load before they can answer. */
function startupNote() {
  const entry = path.join(repo, 'dist', 'cli.js');
  const graph = importGraph(entry);
  const total = importMs(pathToFileURL(entry).href);
  const packages = [...graph.packages.entries()]
    .flatMap(([name, chain]) => {
      const took = importMs(name);
      return took === undefined ? [] : [{ name, chain, ms: took }];
    })
    .sort((a, b) => b.ms - a.ms);
  raw.startupImports = { distCliMs: total, files: graph.files, packages };
  const list = packages
    .map((p) => `${p.name} ${ms(p.ms)}${p.chain.length > 1 ? ` (via ${p.chain.slice(1).join(' → ')})` : ''}`)
    .join(', ');
  return `start-up: \`rehearse --version\` and \`--help\` load dist/cli.js and ${graph.files.length - 1} more file(s) statically (${total === undefined ? '?' : ms(total)} to import in a fresh node); the packages among them, each imported alone: ${list}.`;
}

/** @type {import('../lib/sandbox.js').BenchRow} */
export default {
  id: 1,
  title: '1 start-up',
  needs: 'none',
  async run() {
    log('row 1: start-up');
    await startupRows();
  },
};
