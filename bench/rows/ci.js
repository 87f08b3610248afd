// @ts-check
import fs from 'node:fs';
import path from 'node:path';
import { repo } from '../lib/options.js';
import { addRow, judge, raw } from '../lib/table.js';

/** Row 8: the last `.ci/run` in this checkout, from the phase times it keeps (test-results/ci-phases.txt). */
function ciRow() {
  const file = path.join(repo, 'test-results', 'ci-phases.txt');
  if (!fs.existsSync(file)) {
    addRow({
      row: '8 .ci/run',
      figure: 'no .ci/run recorded in this checkout (run `bash .ci/run`)',
      goal: '< 7 min',
      met: null,
      verdict: '—',
    });
    return;
  }
  const phases = Object.fromEntries(
    fs
      .readFileSync(file, 'utf8')
      .trim()
      .split('\n')
      .map((line) => line.split(' '))
      .map(([name, s]) => [name, Number(s)]),
  );
  raw.ci = { phases, recorded: fs.statSync(file).mtime.toISOString() };
  // The bench smoke runs beside the lint gates (its own phase in runs before that change).
  const names = ['setup', 'lint', 'tests', 'bench'].filter((name) => name !== 'bench' || phases.bench !== undefined);
  const total = names.reduce((sum, name) => sum + (phases[name] ?? 0), 0);
  const split = names.map((name) => `${name} ${phases[name] ?? '?'} s`).join(', ');
  const projects = ['unit', 'integration', 'e2e'].map((p) => `${p} ${phases[`tests.${p}`] ?? '?'} s`).join(', ');
  addRow({
    row: '8 .ci/run',
    figure: `${(total / 60).toFixed(1)} min: ${split} (within tests, each project's span: ${projects}); recorded ${raw.ci.recorded}`,
    goal: '< 7 min',
    ...judge(total < 420, `${Math.round(total)} s`),
  });
}

/** @type {import('../lib/sandbox.js').BenchRow} */
export default {
  id: 8,
  title: '8 CI',
  /** It times nothing (it reads figures), so the machine's load at its start is not noted. */
  untimed: true,
  needs: 'none',
  run: ciRow,
};
