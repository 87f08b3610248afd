import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';

const repo = path.resolve(import.meta.dirname, '..', '..', '..');
const bundle = path.join(repo, 'fixtures', 'bundles', 'complete');
const ANSI = /\x1b\[[0-9;]*m/;

/** The built CLI on a real terminal (util-linux `script` gives it a TTY). */
async function onTerminal(args: string, env: Record<string, string> = {}): Promise<string> {
  const clean = { ...process.env, CI: '', NO_COLOR: '', ...env };
  const result = await execa('script', ['-qc', `node bin/rehearse.js ${args}`, '/dev/null'], {
    cwd: repo,
    env: clean,
    reject: false,
  });
  return result.stdout;
}

describe('terminal output conventions (built CLI)', () => {
  it('colours a terminal by default', async () => {
    expect(await onTerminal(`verify ${bundle}`)).toMatch(ANSI);
  });

  it('honours NO_COLOR, --no-color, --ci and CI', async () => {
    expect(await onTerminal(`verify ${bundle}`, { NO_COLOR: '1' })).not.toMatch(ANSI);
    expect(await onTerminal(`verify ${bundle} --no-color`)).not.toMatch(ANSI);
    expect(await onTerminal(`verify ${bundle} --ci`)).not.toMatch(ANSI);
    expect(await onTerminal(`verify ${bundle}`, { CI: 'true' })).not.toMatch(ANSI);
  });

  it('--json prints exactly one JSON document on stdout, even on a terminal', async () => {
    const out = await execa('node', ['bin/rehearse.js', 'verify', bundle, '--json'], { cwd: repo, reject: false });
    expect(JSON.parse(out.stdout)).toMatchObject({ command: 'verify', exitCode: 0 });
  });

  it('--version and --help answer without loading a command', async () => {
    const { version: packaged } = JSON.parse(await readFile(path.join(repo, 'package.json'), 'utf8'));
    // --version and -V print the package's version and load no module of the CLI to do it.
    for (const flag of ['--version', '-V']) {
      const version = await execa('node', ['bin/rehearse.js', flag], {
        cwd: repo,
        env: { NODE_DEBUG: 'module' },
      });
      expect(version.stdout).toBe(packaged);
      expect(version.stderr).not.toContain('dist/cli.js');
    }
    const help = await execa('node', ['bin/rehearse.js', 'validate', '--help'], { cwd: repo });
    expect(help.stdout).toContain('Example:');
  });
});
