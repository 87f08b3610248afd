import path from 'node:path';
import { execa, type ResultPromise } from 'execa';
import fs from 'fs-extra';
import { describe, expect, it } from 'vitest';
import { isAlive } from '../../src/process/daemon.js';
import { waitFor } from '../support/wait.js';
import { api, type CliRun, parseJson, rehearse, repo, sandboxHome, workspace } from './support.js';

const FINAL = ['COMPLETED', 'FAILED', 'CANCELLED', 'CRASHED'];
const EVIDENCE = 'dist/staging/backfill';
// Long enough runs that the signal lands while they run; two of them, the sandbox's limit.
const RUN_ARGS = [
  'run',
  '--sandbox',
  '--new-bundle',
  '--burst',
  '2',
  '--since',
  '2024-01-01',
  '--until',
  '2024-01-03',
  '--param',
  'day_seconds=15',
  '--json',
];

interface FlowRun {
  id: string;
  name: string;
  state_type: string;
  tags: string[];
}
interface Limit {
  active_slots: number;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function start(args: string[], cwd: string): ResultPromise {
  return execa('node', [path.join(repo, 'bin/rehearse.js'), ...args], {
    cwd,
    env: { ...process.env, REHEARSE_SANDBOX_HOME: sandboxHome(), CI: '1' },
    reject: false,
    timeout: 300_000,
  });
}

async function ended(child: ResultPromise): Promise<CliRun> {
  const result = await child;
  return { exitCode: result.exitCode ?? -1, stdout: String(result.stdout), stderr: String(result.stderr) };
}

/** Processes descended from pid, with their command lines, read from /proc. */
async function descendants(pid: number): Promise<{ pid: number; cmd: string }[]> {
  const parents = new Map<number, number>();
  const cmds = new Map<number, string>();
  for (const name of (await fs.readdir('/proc')).filter((n) => /^\d+$/.test(n))) {
    const stat = await fs.readFile(`/proc/${name}/stat`, 'utf8').catch(() => '');
    if (!stat) continue;
    parents.set(Number(name), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    cmds.set(Number(name), (await fs.readFile(`/proc/${name}/cmdline`, 'utf8').catch(() => '')).replaceAll('\0', ' '));
  }
  const out: { pid: number; cmd: string }[] = [];
  const walk = (parent: number): void => {
    for (const [child, ppid] of parents) {
      if (ppid === parent) {
        out.push({ pid: child, cmd: cmds.get(child) ?? '' });
        walk(child);
      }
    }
  };
  walk(pid);
  return out;
}

const runsTagged = (tag: string): Promise<FlowRun[]> =>
  api<FlowRun[]>('POST', '/flow_runs/filter', { flow_runs: { tags: { all_: [tag] } } });

async function newestBundle(cwd: string): Promise<string | undefined> {
  const root = path.join(cwd, EVIDENCE);
  const names = (await fs.pathExists(root))
    ? (await fs.readdir(root)).filter((n) => /^\d{8}T\d{6}Z$/.test(n)).sort()
    : [];
  return names.at(-1);
}

/** Every run of the rehearsal final on the server (Cancelling is not: it waits for a worker). */
async function expectAllFinal(tag: string): Promise<FlowRun[]> {
  const runs = await waitFor(`the runs of ${tag} to be final`, 240_000, async () => {
    const now = await runsTagged(tag);
    return now.length > 0 && now.every((r) => FINAL.includes(r.state_type)) ? now : undefined;
  }).catch(async () => runsTagged(tag));
  expect(
    runs.map((r) => r.state_type).filter((s) => !FINAL.includes(s)),
    JSON.stringify(runs.map((r) => [r.name, r.state_type])),
  ).toEqual([]);
  return runs;
}

describe('signals, the bundle lock and abandoned bundles on the real sandbox', () => {
  for (const signal of ['SIGINT', 'SIGHUP'] as const) {
    it(`${signal === 'SIGINT' ? 'SIGINT (twice)' : signal} once the run page is open: runs cancelled on the server, browser closed by rehearse, bundle interrupted, exit 3`, async () => {
      const cwd = await workspace();
      const child = start(RUN_ARGS, cwd);
      const browser = await waitFor('rehearse to open the run page in Chromium', 400_000, async () => {
        const found = (await descendants(child.pid as number)).filter((p) => /chrom/i.test(p.cmd));
        return found.length > 0 ? found : undefined;
      });
      child.kill(signal);
      // A second Ctrl-C while it stops changes nothing: the same cancelling, the same record.
      if (signal === 'SIGINT') setTimeout(() => child.kill('SIGINT'), 500);
      const result = await ended(child);
      expect([129, 130, 0]).not.toContain(result.exitCode);
      expect(result.exitCode, result.stderr).toBe(3);
      const out = parseJson(result);
      expect(out.error?.code).toBe('INTERRUPTED');
      expect(out.summary).toMatchObject({ status: 'interrupted', verdict: 'incomplete' });
      const bundle = path.basename(out.bundle as string);
      const saved = await fs.readJson(path.join(cwd, EVIDENCE, bundle, 'summary.json'));
      expect(saved.status).toBe('interrupted');
      expect(saved.steps.map((s: { name: string; status: string }) => [s.name, s.status])).toContainEqual([
        'run',
        'interrupted',
      ]);
      // Rehearse closed its browser itself; none of its processes outlive it.
      // (Chromium's zygotes may take a moment to follow the browser process out.)
      const left = await waitFor('the browser processes to exit', 60_000, async () =>
        browser.some((p) => isAlive(p.pid)) ? undefined : [],
      ).catch(() => browser.filter((p) => isAlive(p.pid)).map((p) => p.cmd));
      expect(left).toEqual([]);
      expect(await fs.pathExists(path.join(cwd, EVIDENCE, bundle, '.rehearse.lock'))).toBe(false);
      const runs = await expectAllFinal(`rehearse-${bundle}`);
      expect(runs.length).toBeGreaterThanOrEqual(1);
      expect(runs.some((r) => r.state_type === 'CANCELLED')).toBe(true);
    });
  }

  it('SIGINT while a worker is starting a run: no run of the rehearsal comes back Running after rehearse exits', async () => {
    const cwd = await workspace();
    const child = start(RUN_ARGS, cwd);
    // The moment a worker has claimed a run (Pending) and spawned its flow process, before that process
    // has set it Running: a run cancelled now is the one that can come back.
    const bundle = await waitFor('a run of the rehearsal to be Pending', 400_000, async () => {
      const name = await newestBundle(cwd);
      if (!name) return undefined;
      const runs = await runsTagged(`rehearse-${name}`);
      return runs.some((r) => r.state_type === 'PENDING') ? name : undefined;
    });
    child.kill('SIGINT');
    const result = await ended(child);
    expect(result.exitCode, result.stderr).toBe(3);
    // Well past the time a flow process takes to start here (about 5 s quiet, 20 s with both cores busy):
    // a run that was to come back has.
    await sleep(60_000);
    const runs = await runsTagged(`rehearse-${bundle}`);
    expect(runs.filter((r) => !FINAL.includes(r.state_type)).map((r) => [r.name, r.state_type])).toEqual([]);
    for (const run of runs) {
      const states = await api<{ type: string; timestamp: string }[]>('GET', `/flow_run_states/?flow_run_id=${run.id}`);
      const types = states.sort((a, b) => a.timestamp.localeCompare(b.timestamp)).map((s) => s.type);
      // Final when rehearse exited, and nothing moved it on after: its last final state is its last state.
      expect(types.slice(types.findIndex((t) => FINAL.includes(t))), `${run.name}: ${types.join(' ')}`).toHaveLength(1);
    }
  });

  it('a SIGKILLed rehearsal leaves no child process, is reported abandoned by the next command, never adopted, and cleanup ends its runs and frees its slots', async () => {
    const cwd = await workspace();
    // Runs long enough to outlive the two commands run before cleanup (~15 s quiet, a minute with both cores
    // busy); cleanup cancels them, so the length costs nothing.
    const child = start(
      RUN_ARGS.map((arg) => (arg === 'day_seconds=15' ? 'day_seconds=200' : arg)),
      cwd,
    );
    const bundle = await waitFor('a run of the rehearsal to be RUNNING', 400_000, async () => {
      const name = await newestBundle(cwd);
      if (!name) return undefined;
      const runs = await runsTagged(`rehearse-${name}`);
      return runs.some((r) => r.state_type === 'RUNNING') ? name : undefined;
    });
    await waitFor('the rehearsal runs to take a slot of hotpass-backfill', 240_000, async () =>
      (await api<Limit>('GET', '/v2/concurrency_limits/hotpass-backfill')).active_slots > 0 ? true : undefined,
    );
    // `uv run prefect deployment run … --watch` and its Python, among the others rehearse started.
    const tree = await descendants(child.pid as number);
    expect(tree.filter((p) => p.cmd.includes('deployment run')).length, JSON.stringify(tree)).toBeGreaterThanOrEqual(2);
    child.kill('SIGKILL');
    await child.catch(() => undefined);
    // None outlives rehearse (its watchdog allows 5 s for SIGTERM before SIGKILL; 60 s is a wide margin).
    const survivors = await waitFor('the children of the killed rehearsal to exit', 60_000, async () =>
      tree.some((p) => isAlive(p.pid)) ? undefined : [],
    ).catch(() => tree.filter((p) => isAlive(p.pid)).map((p) => p.cmd));
    expect(survivors).toEqual([]);
    // They went with rehearse, not because their runs ended.
    expect((await runsTagged(`rehearse-${bundle}`)).some((r) => !FINAL.includes(r.state_type))).toBe(true);
    const dir = path.join(cwd, EVIDENCE, bundle);
    // Killed during its first step: no summary.json yet, only the lock of a process that is gone.
    expect((await fs.readJson(path.join(dir, '.rehearse.lock'))).pid).toBe(child.pid);
    expect(await fs.pathExists(path.join(dir, 'summary.json'))).toBe(false);

    // The next command run by hand: it reports the bundle abandoned and does not add to it.
    const next = await rehearse(['capture', '--sandbox', '--json'], { cwd });
    expect(next.stderr).toContain(`bundle ${path.join(EVIDENCE, bundle)} abandoned`);
    expect(next.stderr).toContain(`rehearse cleanup --bundle ${path.join(EVIDENCE, bundle)}`);
    expect(parseJson(next).bundle ?? '').not.toContain(bundle);
    const marked = await fs.readJson(path.join(dir, 'summary.json'));
    expect(marked).toMatchObject({ status: 'abandoned', verdict: 'incomplete', exitCode: 3 });
    expect(await fs.readFile(path.join(dir, 'notes.md'), 'utf8')).toContain('## Abandoned');
    // Named explicitly, it is refused too.
    const refused = await rehearse(['validate', '--sandbox', '--json', '--bundle', dir], { cwd });
    expect([refused.exitCode, parseJson(refused).error?.code]).toEqual([2, 'BUNDLE_ABANDONED']);
    expect((await runsTagged(`rehearse-${bundle}`)).some((r) => !FINAL.includes(r.state_type))).toBe(true);

    const cleanup = await rehearse(['cleanup', '--sandbox', '--json', '--grace', '5', '--bundle', dir], { cwd });
    expect(cleanup.exitCode, `${cleanup.stdout}\n${cleanup.stderr}`).toBe(0);
    const report = parseJson(cleanup) as unknown as {
      data: { runs: { to: string }[]; slots: { limit: string; action: string }[] };
    };
    expect(report.data.runs.length).toBeGreaterThanOrEqual(1);
    await expectAllFinal(`rehearse-${bundle}`);
    expect((await api<Limit>('GET', '/v2/concurrency_limits/hotpass-backfill')).active_slots).toBe(0);
    const deployment = await api<{ global_concurrency_limit: Limit & { name: string } }>(
      'GET',
      '/deployments/name/hotpass-backfill/hotpass-backfill',
    );
    expect(deployment.global_concurrency_limit.active_slots).toBe(0);
  });
});
