import { type ChildProcess, spawn } from 'node:child_process';
import type { Writable } from 'node:stream';

/**
 * The watchdog reads "+ PID" and "- PID" lines (a child started, a child ended) on a pipe only
 * rehearse holds. Whatever way rehearse ends, SIGKILL included, the kernel closes that pipe; at its
 * end of file the watchdog stops the children still listed: SIGTERM (`uv run` passes it on to its
 * Python), SIGKILL for what is left after 5 s. It ignores the stop signals a terminal or a process
 * group receives, so it outlives rehearse long enough to do this.
 */
const SCRIPT = `trap '' INT HUP TERM
pids=' '
while read -r op pid; do
  case "$op:$pids" in
    "+:"*) pids="$pids$pid " ;;
    "-:"*" $pid "*) pids="\${pids%% $pid *} \${pids#* $pid }" ;;
  esac
done
set -- $pids
[ $# -eq 0 ] && exit 0
kill -TERM "$@" 2>/dev/null
i=0
while [ $i -lt 50 ]; do
  alive=
  for p in "$@"; do kill -0 "$p" 2>/dev/null && alive=1; done
  [ -z "$alive" ] && exit 0
  sleep 0.1
  i=$((i + 1))
done
kill -KILL "$@" 2>/dev/null`;

let watchdog: { child: ChildProcess; input: Writable } | undefined;
let unavailable = false;

function startWatchdog(): Writable | undefined {
  if (watchdog) return watchdog.input;
  if (unavailable) return undefined;
  const child = spawn('/bin/sh', ['-c', SCRIPT], { stdio: ['pipe', 'ignore', 'ignore'] });
  const input = child.stdin as Writable & { unref?: () => void };
  // Without a watchdog children simply are not guarded; the command itself must not fail for it.
  const lose = (): void => {
    unavailable = true;
    watchdog = undefined;
  };
  child.once('error', lose);
  child.once('exit', lose);
  input.on('error', lose);
  // Neither the watchdog nor its pipe keeps rehearse running: its exit is what the watchdog waits for.
  child.unref();
  input.unref?.();
  watchdog = { child, input };
  return input;
}

/** Have the watchdog stop this child if rehearse dies first; the returned function says it ended. */
export function guardChild(pid: number | undefined): () => void {
  if (pid === undefined) return () => undefined;
  const input = startWatchdog();
  input?.write(`+ ${pid}\n`);
  return () => {
    if (watchdog?.input === input) input?.write(`- ${pid}\n`);
  };
}
