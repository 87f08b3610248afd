import { afterEach, describe, expect, it, vi } from 'vitest';
import { helpTexts, main } from '../../../src/cli.js';

/** `rehearse completion <shell>` as the CLI runs it, its stdout and exit code. */
async function completion(shell: string): Promise<{ code: number; out: string }> {
  const written: string[] = [];
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
    written.push(String(chunk));
    return true;
  });
  vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
  const code = await main(['node', 'rehearse', 'completion', shell], { env: {}, cwd: process.cwd() });
  vi.restoreAllMocks();
  return { code, out: written.join('') };
}

afterEach(() => {
  vi.restoreAllMocks();
});

/** The words a data function's row for `path` echoes. */
function row(script: string, fn: string, path: string): string[] {
  const body = script.slice(script.indexOf(`${fn}() {`));
  const line = new RegExp(`^ {4}'${path}'\\) echo '([^']*)' ;;$`, 'm').exec(body.slice(0, body.indexOf('\n}')));
  return line?.[1]?.split(' ') ?? [];
}

/** The long options a command's --help lists, from the text commander prints. */
const helpOptions = (text: string): string[] =>
  [...text.slice(text.indexOf('Options:')).matchAll(/^ {2}(?:-\w, )?(--[a-z-]+)/gm)].map((match) => match[1] ?? '');

describe('rehearse completion', () => {
  it('bash: lists every command, and every option backfill --help lists', async () => {
    const { code, out } = await completion('bash');
    expect(code).toBe(0);
    const help = helpTexts();
    const topLevel = Object.keys(help).filter((names) => names && !names.includes(' '));
    expect(topLevel).toContain('completion');
    expect(row(out, '_rehearse_commands', '')).toEqual(expect.arrayContaining(topLevel));
    expect(row(out, '_rehearse_commands', 'sandbox')).toEqual(expect.arrayContaining(['up', 'down', 'status', 'env']));
    const backfillOptions = helpOptions(help.backfill ?? '');
    expect(backfillOptions).toEqual(expect.arrayContaining(['--bundle', '--since', '--fault', '--to', '--help']));
    expect(row(out, '_rehearse_options', 'backfill')).toEqual(expect.arrayContaining([...backfillOptions, '-c']));
    // Every command's options, not only backfill's.
    for (const [names, text] of Object.entries(help)) {
      expect(row(out, '_rehearse_options', names), names).toEqual(expect.arrayContaining(helpOptions(text)));
    }
    expect(row(out, '_rehearse_value_kind', 'backfill:--bundle')).toEqual(['bundle']);
    expect(row(out, '_rehearse_value_kind', 'verify:')).toEqual(['bundle']);
    expect(row(out, '_rehearse_value_kind', 'sandbox up:--database')).toEqual(['words', 'sqlite', 'postgres']);
    expect(out).toMatch(/^complete -F _rehearse_complete rehearse$/m);
  });

  it('zsh: the same commands, registered with compdef', async () => {
    const { code, out } = await completion('zsh');
    expect(code).toBe(0);
    expect(row(out, '_rehearse_commands', '')).toContain('backfill');
    expect(out).toMatch(/^compdef _rehearse rehearse$/m);
    expect(out).not.toContain('complete -F');
  });

  it('refuses another shell as a usage error (exit 2)', async () => {
    expect((await completion('fish')).code).toBe(2);
  });
});
