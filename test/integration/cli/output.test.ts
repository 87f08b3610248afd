import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { describe, expect, it, vi } from 'vitest';
import { helpTexts, main } from '../../../src/cli.js';

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
    // --help prints the text the build stored, loading nothing of the CLI either.
    const help = await execa('node', ['bin/rehearse.js', 'validate', '--help'], {
      cwd: repo,
      env: { NODE_DEBUG: 'module' },
    });
    expect(help.stdout).toContain('Example:');
    expect(help.stderr).not.toContain('commander');
    expect(help.stderr).not.toContain('dist/cli.js');
  });

  it('prints for every command the very help commander gives, from the stored copy', async () => {
    const stored: Record<string, string> = JSON.parse(await readFile(path.join(repo, 'dist', 'help.json'), 'utf8'));
    // The build's copy is the help of these sources: a command added or reworded without a build shows here.
    expect(stored).toEqual(helpTexts());
    expect(Object.keys(stored)).toEqual(expect.arrayContaining(['', 'backfill', 'sandbox', 'sandbox up', 'verify']));
    for (const [names, text] of Object.entries(stored)) {
      const args = [...names.split(' ').filter(Boolean), '--help'];
      const printed = await execa('node', ['bin/rehearse.js', ...args], { cwd: repo });
      expect(printed.stdout, names).toBe(text.trimEnd());
      // ...and commander, asked directly, prints the same.
      const written: string[] = [];
      const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
        written.push(String(chunk));
        return true;
      });
      try {
        expect(await main(['node', 'rehearse', ...args], { env: {}, cwd: repo })).toBe(0);
      } finally {
        spy.mockRestore();
      }
      expect(written.join(''), names).toBe(text);
    }
  });
});
