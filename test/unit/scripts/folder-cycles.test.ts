import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';

const SCRIPT = path.resolve(import.meta.dirname, '..', '..', '..', 'scripts', 'folder-cycles.js');
const dirs: string[] = [];

/** A src tree of the given files (path → imports), checked by the script. */
function check(files: Record<string, string[]>): { status: number | null; stdout: string } {
  const src = mkdtempSync(path.join(os.tmpdir(), 'rehearse-folders-'));
  dirs.push(src);
  for (const [file, imports] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(src, file)), { recursive: true });
    writeFileSync(path.join(src, file), imports.map((spec) => `import { x } from '${spec}';\n`).join(''));
  }
  const result = spawnSync(process.execPath, [SCRIPT, src], { encoding: 'utf8' });
  return { status: result.status, stdout: result.stdout };
}

afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('scripts/folder-cycles.js', () => {
  it('refuses a cycle between two folders, naming an import of each edge', () => {
    const { status, stdout } = check({
      'bundle/bundle.ts': ['../report/html.js'],
      'report/html.ts': ['../bundle/bundle.js'],
    });
    expect(status).toBe(1);
    expect(stdout).toContain('folder cycle: bundle, report');
    expect(stdout).toContain("bundle -> report: bundle/bundle.ts imports '../report/html.js'");
  });

  it('counts each step folder on its own, and leaves root files out', () => {
    const { status, stdout } = check({
      'steps/run/run.ts': ['../capture/capture.js', '../runner.js', '../../context.js'],
      'steps/capture/capture.ts': ['../runner.js', '../../context.js'],
      'steps/runner.ts': ['../context.js'],
      'context.ts': ['./steps/run/run.js'],
    });
    expect(stdout).toContain('none among 3 folders');
    expect(status).toBe(0);
  });

  it('refuses a cycle between two step folders', () => {
    const { status, stdout } = check({
      'steps/run/run.ts': ['../capture/capture.js'],
      'steps/capture/capture.ts': ['../run/data.js'],
      'steps/run/data.ts': [],
    });
    expect(status).toBe(1);
    expect(stdout).toContain('folder cycle: steps/capture, steps/run');
  });
});
