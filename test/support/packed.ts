import { mkdtemp, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import fs from 'fs-extra';

const repo = path.resolve(import.meta.dirname, '..', '..');

/** The packed tarball installed with `npm install -g` into a temporary prefix, and a directory outside the repo. */
export interface PackedInstall {
  work: string;
  tarball: string;
  prefix: string;
  elsewhere: string;
  /** The installed `rehearse`, run from `elsewhere` with the prefix's bin first on PATH. */
  rehearse(args: string[], env?: Record<string, string>): Promise<{ exitCode: number; stdout: string; stderr: string }>;
}

export async function installPacked(label: string): Promise<PackedInstall> {
  const [built, source] = await Promise.all([
    stat(path.join(repo, 'dist/cli.js')).catch(() => undefined),
    stat(path.join(repo, 'src/cli.ts')),
  ]);
  if (!built || built.mtimeMs < source.mtimeMs) throw new Error('dist/ is older than src/: run npm run build first');
  const work = await mkdtemp(path.join(tmpdir(), `rehearse-${label}-`));
  const prefix = path.join(work, 'prefix');
  const elsewhere = path.join(work, 'somewhere-else');
  await fs.ensureDir(elsewhere);
  // The built dist/ as it is: packing without scripts never rebuilds it under tests that read it.
  const packed = await execa('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', work], { cwd: repo });
  const [{ filename }] = JSON.parse(packed.stdout) as [{ filename: string }];
  const tarball = path.join(work, filename);
  await execa('npm', ['install', '-g', '--prefix', prefix, '--no-audit', '--no-fund', '--prefer-offline', tarball], {
    cwd: work,
  });
  const rehearse = async (args: string[], env: Record<string, string> = {}) => {
    const result = await execa(path.join(prefix, 'bin', 'rehearse'), args, {
      cwd: elsewhere,
      reject: false,
      env: { CI: 'true', PATH: `${path.join(prefix, 'bin')}:${process.env.PATH ?? ''}`, ...env },
    });
    return { exitCode: result.exitCode ?? -1, stdout: result.stdout, stderr: result.stderr };
  };
  return { work, tarball, prefix, elsewhere, rehearse };
}
