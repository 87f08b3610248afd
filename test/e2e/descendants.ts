import { readdir, readFile } from 'node:fs/promises';

/** What one process showed any local user (its command line) and its owner (its environment). */
export interface SeenProcess {
  pid: number;
  cmdline: string;
  environ: string;
}

/** Every process's parent, from /proc/<pid>/stat (the name in parentheses may hold spaces, so read after it). */
async function parents(): Promise<Map<number, number>> {
  const out = new Map<number, number>();
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '');
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (ppid) out.set(Number(entry), ppid);
  }
  return out;
}

/** The processes below `root` now (not `root` itself), with their command lines and environments. */
async function descendantsOf(root: number): Promise<SeenProcess[]> {
  const parentOf = await parents();
  const below = (pid: number): boolean => {
    for (let at = parentOf.get(pid); at !== undefined; at = parentOf.get(at)) if (at === root) return true;
    return false;
  };
  const pids = [...parentOf.keys()].filter(below);
  const read = (pid: number, file: string) =>
    readFile(`/proc/${pid}/${file}`, 'utf8').then(
      (text) => text.replaceAll('\0', ' '),
      () => '',
    );
  return Promise.all(
    pids.map(async (pid) => ({ pid, cmdline: await read(pid, 'cmdline'), environ: await read(pid, 'environ') })),
  );
}

/**
 * Samples the descendants of a process every `everyMs` until stopped: each command line seen once,
 * keyed by pid and command line, so a process that execs (uv → python) is kept in both forms.
 */
export function watchDescendants(everyMs = 100): { start(pid: number): void; stop(): Promise<SeenProcess[]> } {
  const seen = new Map<string, SeenProcess>();
  let timer: NodeJS.Timeout | undefined;
  let sampling: Promise<void> = Promise.resolve();
  const sample = (root: number) => {
    sampling = sampling.then(async () => {
      for (const proc of await descendantsOf(root)) seen.set(`${proc.pid} ${proc.cmdline}`, proc);
    });
  };
  return {
    start(pid) {
      timer = setInterval(() => sample(pid), everyMs);
    },
    async stop() {
      clearInterval(timer);
      await sampling;
      return [...seen.values()];
    },
  };
}
