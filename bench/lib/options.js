// @ts-check
// The bench's paths and flags (--quick, --strict, --keep, --row=N), read once from the command line.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** bench/, where run.js, the child scripts and results.json are. */
export const benchDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const repo = path.resolve(benchDir, '..');
export const cli = path.join(repo, 'bin', 'rehearse.js');
export const node = process.execPath;
export const rssHook = pathToFileURL(path.join(benchDir, 'rss-hook.js')).href;
export const runbook = path.join(benchDir, 'runbook.sh');
export const resultsFile = path.join(benchDir, 'results.json');

const argv = new Set(process.argv.slice(2));
if (argv.has('--help') || argv.has('-h')) {
  process.stdout.write(
    `${fs
      .readFileSync(path.join(benchDir, 'run.js'), 'utf8')
      .split('\n')
      .slice(1, 10)
      .map((l) => l.replace(/^\/\/ ?/, ''))
      .join('\n')}\n`,
  );
  process.exit(0);
}
/** `--row=7` or `--row=2,4`: only those rows (and what they need); the whole bench by default. */
export const onlyRows = new Set(
  [...argv]
    .filter((flag) => flag.startsWith('--row='))
    .flatMap((flag) => flag.slice('--row='.length).split(','))
    .map(Number),
);
for (const flag of argv) {
  const rowFlag = /^--row=\d+(,\d+)*$/.test(flag);
  if (!rowFlag && !['--quick', '--strict', '--keep'].includes(flag)) {
    process.stderr.write(`bench: unknown option ${flag} (--quick, --strict, --keep, --row=N[,N])\n`);
    process.exit(2);
  }
}
/** @param {number} row */
export const wanted = (row) => onlyRows.size === 0 || onlyRows.has(row);
export const quick = argv.has('--quick');
export const strict = argv.has('--strict');
export const keep = argv.has('--keep');
