import type { FaultRecord } from './fault-record.js';
import type { Check } from './verdict.js';

/**
 * The verdict of a fault rehearsal is its steady-state hypothesis, not the fault: the limits held (the
 * concurrency checks), every run ended final (runs.settled), the runs the fault did not touch completed
 * (here), the slots came back (slots.released). A fault that did what was asked passes; one whose moment never
 * came, or that the server or the command refused, leaves the hypothesis untested: inconclusive.
 */

interface JudgedRun {
  id: string;
  name: string;
  state_type?: string | null | undefined;
  state_name?: string | null | undefined;
}

const FINAL = new Set(['COMPLETED', 'FAILED', 'CANCELLED', 'CRASHED']);
const stateOf = (run: JudgedRun): string => run.state_name ?? run.state_type ?? '?';

/**
 * A process worker reads each flow run's output through a pipe (job variable stream_output, on by default). Its
 * runs outlive a SIGKILL, but their next log line to the console finds the pipe broken, and Prefect's console
 * handler exits the flow: Crashed, "Execution was aborted by Python system exit call." (traced on 3.9.1).
 */
const BROKEN_PIPE =
  ': their output went through a pipe to the killed worker, which broke at their next console line and ended ' +
  'the flow (Prefect\'s "system exit call"); runs outlive their worker with the job variable stream_output: false ' +
  'on the deployment or its pool (their logs still reach the API; seen on Prefect 3.9.1)';

/** kill-worker: how the runs under the killed worker ended, and why, when they crashed as a broken pipe ends them. */
function underWorker(record: FaultRecord): string {
  const ended = record.recovery?.touchedRunsEnded;
  if (!ended?.length) return '';
  const pipe = ended.some((r) => r.state.toUpperCase() === 'CRASHED' && /system exit/i.test(r.message ?? ''));
  return `; its run(s) ${ended.map((r) => `${r.run} ${r.state}`).join(', ')}${pipe ? BROKEN_PIPE : ''}`;
}

/** One check per fault: a JUnit case each, named by its place in the list and its kind. */
export function judgeInjections(records: readonly FaultRecord[]): Check[] {
  return records.map((record, i) => {
    const what = record.kind === 'command' ? `command \`${record.command ?? ''}\`` : record.kind;
    const base = {
      id: `faults.${i + 1}.${record.kind}`,
      step: 'run',
      title: `fault ${what} at ${record.moment}`,
      expected: 'injected',
      actual: record.status,
    };
    if (record.status === 'injected') {
      const target = record.target ? ` on ${record.target.name}` : '';
      const went = `the run went ${record.recovery?.hitRunFinalState ?? '?'}`;
      const did =
        record.action?.stoppedPid !== undefined
          ? `stopped the API server (pid ${record.action.stoppedPid}), answering /health again as pid ${record.action.restartedPid} after ${record.action.downSeconds} s`
          : record.action?.apiStatus !== undefined
            ? `the API answered ${record.action.apiStatus}, ${went}`
            : record.action?.restartedPid !== undefined
              ? `SIGKILL to pid ${record.action.killedPid}, started again after ${record.action.downSeconds} s as pid ${record.action.restartedPid}${underWorker(record)}`
              : record.action?.killedPid !== undefined
                ? `SIGKILL to its process (pid ${record.action.killedPid}), ${went}`
                : `exit code ${record.action?.exitCode ?? '?'}`;
      const held = record.slotsAtInjection;
      const slots = held ? ` (${held.active} of ${held.of} slot(s) of ${held.limit} held)` : '';
      return { ...base, verdict: 'pass', reason: `injected${target} at ${record.injectedAt}${slots}: ${did}` };
    }
    return { ...base, verdict: 'inconclusive', reason: `not injected: ${record.reason ?? record.status}` };
  });
}

/**
 * faults.untouched_completed: every run no fault hit completed. A run the collision strategy turned away
 * (Cancelled, not the CLI's own run) is excused as runs.completed excuses it.
 */
export function judgeUntouched(runs: readonly JudgedRun[], hit: ReadonlySet<string>, primaryId?: string): Check {
  const untouched = runs.filter((r) => !hit.has(r.id));
  const turnedAway = (r: JudgedRun) => r.state_type === 'CANCELLED' && r.id !== primaryId;
  const bad = untouched.filter((r) => r.state_type !== 'COMPLETED' && !turnedAway(r));
  const base = {
    id: 'faults.untouched_completed',
    step: 'run',
    title: 'runs no fault touched completed',
    expected: 'Completed',
    actual: untouched.map((r) => `${r.name}: ${stateOf(r)}`),
  };
  const named = bad.map((r) => `${r.name} ${stateOf(r)}`).join(', ');
  if (bad.some((r) => FINAL.has(r.state_type ?? '')))
    return { ...base, verdict: 'fail', reason: `run(s) the fault did not touch did not complete: ${named}` };
  if (bad.length) return { ...base, verdict: 'inconclusive', reason: `run(s) not final yet: ${named}` };
  return { ...base, verdict: 'pass', reason: `${untouched.length} run(s) the fault did not touch completed` };
}

/** faults.worker_back: after kill-worker, the pool has its workers live again (the server heard from each). */
export function judgeWorkerBack(live: boolean, since: string, waitedSeconds: number): Check {
  const base = {
    id: 'faults.worker_back',
    step: 'run',
    title: 'the pool has a live worker again after kill-worker',
    expected: 'every sandbox worker heard from since its restart',
  };
  return live
    ? { ...base, verdict: 'pass', actual: 'live', reason: `the server heard from every sandbox worker since ${since}` }
    : {
        ...base,
        verdict: 'fail',
        actual: 'not live',
        reason: `the server did not hear from every sandbox worker within ${waitedSeconds} s of its restart at ${since}: runs would queue with no worker to take them; \`rehearse sandbox up\` starts them again`,
      };
}
