import os from 'node:os';
import path from 'node:path';
import fs from 'fs-extra';
import { afterEach, describe, expect, it } from 'vitest';
import { RehearseError } from '../../../src/errors.js';
import { sandboxUp } from '../../../src/sandbox/lifecycle.js';
import { describeSandboxProject } from '../../../src/sandbox/project.js';
import { PROJECT_SYNC_TIMEOUT_MS, prepareProjectEnv } from '../../../src/sandbox/project-env.js';
import { FIXTURE_PROJECT, readSandboxState } from '../../../src/sandbox/state.js';
import { argvOf, createFakeRunner, type FakeResult } from '../../support/fake-runner.js';

const PROJECT = { dir: '/work/clones/hotpass' };
const CHECK = ['uv', 'sync', '--locked', '--check'];
const SYNC = ['uv', 'sync', '--locked', '--compile-bytecode'];
const outOfSync: FakeResult = {
  exitCode: 1,
  stdout: '',
  stderr: 'Would create project environment at: .venv\nerror: The environment is outdated; run `uv sync`\n',
};
/** What uv 0.13 writes on stderr for a first sync when stderr is not a terminal. */
const FIRST_SYNC = [
  'Using CPython 3.11.2 interpreter at: /usr/bin/python3',
  'Creating virtual environment at: .venv',
  'Resolved 108 packages in 1ms',
  'Installed 106 packages in 234ms',
  ' + aiosqlite==0.22.1',
  ' + prefect==3.9.1',
  'Bytecode compiled 4881 files in 7.67s',
].join('\n');

async function prepare(sync: FakeResult, signal?: AbortSignal) {
  const runner = createFakeRunner([
    { match: CHECK, result: outOfSync },
    { match: SYNC, result: sync },
  ]);
  const progress: string[] = [];
  const outcome = await prepareProjectEnv(PROJECT, runner, {
    onProgress: (m) => progress.push(m),
    ...(signal ? { signal } : {}),
  }).catch((e: unknown) => e);
  return { runner, progress, outcome };
}

describe('prepareProjectEnv', () => {
  it('leaves an environment that matches the lock file alone', async () => {
    const runner = createFakeRunner([{ match: CHECK, result: { exitCode: 0, stdout: '', stderr: '' } }]);
    expect(await prepareProjectEnv(PROJECT, runner)).toBe('in-sync');
    expect(runner.calls.map(argvOf)).toEqual([CHECK]);
    expect(runner.calls[0]).toMatchObject({ cwd: PROJECT.dir, readOnly: true });
  });

  it("runs the project's locked sync in its directory on a fresh clone, with a deadline, saying what it does as uv goes", async () => {
    const { runner, progress, outcome } = await prepare({ exitCode: 0, stdout: '', stderr: FIRST_SYNC });
    expect(outcome).toBe('synced');
    expect(runner.calls.map(argvOf)).toEqual([CHECK, SYNC]);
    expect(runner.calls[1]).toMatchObject({ cwd: PROJECT.dir, timeoutMs: PROJECT_SYNC_TIMEOUT_MS });
    // Python downloads stay the user's setting: the sandbox sets no uv variable of its own.
    expect(runner.calls[1]?.env).toBeUndefined();
    expect(progress).toEqual([
      "preparing the project's Python environment: (cd /work/clones/hotpass && uv sync --locked --compile-bytecode)",
      'uv: Using CPython 3.11.2 interpreter at: /usr/bin/python3',
      'uv: Creating virtual environment at: .venv',
      'uv: Resolved 108 packages in 1ms',
      'uv: Installed 106 packages in 234ms',
      'uv: Bytecode compiled 4881 files in 7.67s',
    ]);
  });

  it('fails on one screen naming the command, how it ended and the tail of what uv said', async () => {
    const stderr = [
      'Using CPython 3.11.2 interpreter at: /usr/bin/python3',
      'error: No interpreter found for Python >=3.13, <3.14 in virtual environments, managed installations, or search path',
    ].join('\n');
    const { outcome } = await prepare({ exitCode: 2, stdout: '', stderr });
    expect(outcome).toBeInstanceOf(RehearseError);
    const error = outcome as RehearseError;
    expect(error.code).toBe('SANDBOX_FAILED');
    expect(error.message).toBe(
      "sandbox: the project's Python environment could not be prepared: " +
        '`(cd /work/clones/hotpass && uv sync --locked --compile-bytecode)` exited 2',
    );
    expect(error.details.at(-1)).toContain('No interpreter found for Python >=3.13');
    expect(error.hint).toContain('rehearse sandbox up');
  });

  it('keeps the package list out of the tail, and says when the deadline passed', async () => {
    const { outcome } = await prepare({ exitCode: null, stdout: '', stderr: FIRST_SYNC, timedOut: true });
    const error = outcome as RehearseError;
    expect(error.message).toMatch(/ did not finish within 15 min$/);
    expect(error.details).not.toContain(' + prefect==3.9.1');
    expect(error.details.at(-1)).toBe('Bytecode compiled 4881 files in 7.67s');
  });

  it('stops when rehearse is interrupted, as interrupted, not as a failed sync', async () => {
    const controller = new AbortController();
    controller.abort();
    const { outcome } = await prepare({ exitCode: null, stdout: '', stderr: '', cancelled: true }, controller.signal);
    expect(outcome).toMatchObject({ code: 'INTERRUPTED', message: expect.stringContaining(PROJECT.dir) });
  });
});

describe('sandboxUp on a fresh clone', () => {
  const temps: string[] = [];
  afterEach(async () => {
    await Promise.all(temps.splice(0).map((dir) => fs.remove(dir)));
  });

  it('syncs the project before anything starts from it, and starts nothing when the sync fails', async () => {
    const [projectDir, stateDir] = await Promise.all(
      [0, 1].map(() => fs.mkdtemp(path.join(os.tmpdir(), 'rehearse-env-'))),
    );
    temps.push(projectDir as string, stateDir as string);
    const dir = projectDir as string;
    await fs.outputFile(path.join(dir, 'pyproject.toml'), '[project]\nname = "clone"\n');
    await fs.copy(path.join(FIXTURE_PROJECT, '..', 'hotpass-upstream', 'prefect'), path.join(dir, 'prefect'));
    const runner = createFakeRunner([
      { match: ['uv', '--version'], result: { exitCode: 0, stdout: 'uv 0.13.9', stderr: '' } },
      { match: CHECK, result: outOfSync },
      {
        match: SYNC,
        result: { exitCode: 1, stdout: '', stderr: 'error: Failed to fetch: `https://pypi.org/simple/prefect/`' },
      },
    ]);
    const progress: string[] = [];
    const up = sandboxUp({
      stateDir: stateDir as string,
      runner,
      project: describeSandboxProject(dir),
      onProgress: (m) => progress.push(m),
    });
    await expect(up).rejects.toMatchObject({
      code: 'SANDBOX_FAILED',
      details: [expect.stringContaining('Failed to fetch')],
    });
    expect(runner.calls.map(argvOf)).toEqual([['uv', '--version'], CHECK, SYNC]);
    expect(runner.calls[2]?.cwd).toBe(dir);
    expect(progress[0]).toBe(
      `preparing the project's Python environment: (cd ${dir} && uv sync --locked --compile-bytecode)`,
    );
    expect(await readSandboxState(stateDir as string)).toBeUndefined();
  });
});
