import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const repo = path.resolve(import.meta.dirname, '..', '..', '..');
let dir: string;
let script: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'rehearse-completion-'));
  script = path.join(dir, 'rehearse.bash');
  const printed = await execa('node', [path.join(repo, 'bin', 'rehearse.js'), 'completion', 'bash'], { cwd: dir });
  await writeFile(script, printed.stdout);
  for (const bundle of ['20261126T013217Z', '20261127T080000Z'])
    await mkdir(path.join(dir, 'dist', 'staging', 'backfill', bundle), { recursive: true });
  await mkdir(path.join(dir, 'elsewhere', '20261128T000000Z'), { recursive: true });
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Sources the printed script in bash and asks it to complete the last of `words`, as bash would on Tab. */
async function complete(...words: string[]): Promise<string[]> {
  const line = words.map((word) => `'${word}'`).join(' ');
  const result = await execa(
    'bash',
    [
      '--norc',
      '-c',
      `source ${script}; COMP_WORDS=(${line}); COMP_CWORD=${words.length - 1}; _rehearse_complete; printf '%s\\n' "\${COMPREPLY[@]}"`,
    ],
    { cwd: dir },
  );
  return result.stdout.split('\n').filter(Boolean);
}

describe('bash completion (built CLI)', () => {
  it('registers itself for rehearse', async () => {
    const result = await execa('bash', ['--norc', '-c', `source ${script}; complete -p rehearse`]);
    expect(result.stdout).toBe('complete -F _rehearse_complete rehearse');
  });

  it('completes commands, subcommands and options', async () => {
    expect(await complete('rehearse', 'ba')).toEqual(['backfill']);
    expect(await complete('rehearse', 'sandbox', '')).toEqual(expect.arrayContaining(['up', 'down', 'status', 'env']));
    expect(await complete('rehearse', 'backfill', '--fault-')).toEqual([
      '--fault-command',
      '--fault-at',
      '--fault-timeout',
      '--fault-down',
    ]);
    // A value of an option is not taken for a command: after --deployment sandbox, backfill's options remain.
    expect(await complete('rehearse', 'backfill', '--deployment', 'sandbox', '--new')).toEqual(['--new-bundle']);
    expect(await complete('rehearse', 'sandbox', 'up', '--database', '')).toEqual(['sqlite', 'postgres']);
  });

  it('completes bundle directories under the evidence root for --bundle and verify DIR', async () => {
    const bundles = ['dist/staging/backfill/20261126T013217Z', 'dist/staging/backfill/20261127T080000Z'];
    expect(await complete('rehearse', 'validate', '--bundle', '')).toEqual(bundles);
    expect(await complete('rehearse', 'verify', '')).toEqual(bundles);
    expect(await complete('rehearse', 'verify', 'dist/staging/backfill/20261127')).toEqual([bundles[1]]);
    // --evidence-root on the line moves where bundles are looked for.
    expect(await complete('rehearse', 'validate', '--evidence-root', 'elsewhere', '--bundle', '')).toEqual([
      'elsewhere/20261128T000000Z',
    ]);
  });
});
