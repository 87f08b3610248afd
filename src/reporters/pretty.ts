import type { Writable } from 'node:stream';
import { Chalk, type ChalkInstance } from 'chalk';
import type { StepRecord, Summary } from '../bundle/summary.js';
import type { Verdict } from '../guardrails/verdict.js';
import { explainFailures, worstFirst } from '../report/why.js';
import type { Redactor } from '../secrets/redact.js';
import type { CommandResult, RehearseEvent, Reporter } from './events.js';

export interface PrettyOptions {
  stream: Writable & { isTTY?: boolean };
  /** Where errors go (what went wrong, its details, what to do): stderr, whatever carries the progress. */
  errorStream?: Writable;
  color: boolean;
  /** Live elapsed-time line while a command runs (terminals only, never in CI). */
  live: boolean;
  /** Applied to every line written, so no known secret reaches the terminal. */
  redact?: Redactor;
}

const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)}s`;

function verdictLabel(c: ChalkInstance, verdict: Verdict | 'error' | 'skipped' | 'incomplete'): string {
  switch (verdict) {
    case 'pass':
      return c.green('PASS');
    case 'fail':
      return c.red.bold('FAIL');
    case 'inconclusive':
      return c.yellow('INCONCLUSIVE');
    case 'incomplete':
      return c.yellow('INCOMPLETE');
    case 'skipped':
      return c.dim('SKIPPED');
    default:
      return c.red('ERROR');
  }
}

function exitVerdict(code: number): Verdict | 'error' {
  return code === 0 ? 'pass' : code === 1 ? 'fail' : code === 4 ? 'inconclusive' : 'error';
}

type WriteLine = (line: string) => void;

interface LiveLine {
  start(text: string): void;
  stop(): void;
  clear(): void;
}

/** The one line a terminal redraws each second while a command runs; nothing when options.live is off. */
function createLiveLine(options: PrettyOptions, c: ChalkInstance, redact: Redactor): LiveLine {
  let live: { text: string; started: number; timer: NodeJS.Timeout } | undefined;
  const clear = (): void => {
    if (live && options.live) options.stream.write('\r\x1b[2K');
  };
  const draw = (): void => {
    if (live && options.live)
      options.stream.write(`\r\x1b[2K${c.cyan('…')} ${live.text} ${c.dim(seconds(Date.now() - live.started))}`);
  };
  const stop = (): void => {
    if (!live) return;
    clearInterval(live.timer);
    clear();
    live = undefined;
  };
  const start = (text: string): void => {
    stop();
    if (!options.live) return;
    const shown = redact(text);
    live = {
      text: shown.length > 100 ? `${shown.slice(0, 97)}...` : shown,
      started: Date.now(),
      timer: setInterval(draw, 1000),
    };
    live.timer.unref();
    draw();
  };
  return { start, stop, clear };
}

/** What did not pass, failed first, each with its one-line reason and fix: the closing lines a reader looks at first. */
function writeWhy(c: ChalkInstance, out: WriteLine, summary: Summary): void {
  const why = explainFailures(summary.checks, summary.target.manifest);
  if (why.length === 0) return;
  out('');
  out(c.bold('failed and inconclusive checks'));
  for (const { check, headline, fix } of why) {
    out(`  ${verdictLabel(c, check.verdict)} ${check.id}: ${headline}`);
    out(`    ${c.dim('fix:')} ${fix}`);
  }
}

/** Steps, then their checks: those that did not pass first, the passes after them. */
function writeFinalTable(c: ChalkInstance, out: WriteLine, result: CommandResult): void {
  const summary = result.summary;
  if (!summary) return;
  writeWhy(c, out, summary);
  out('');
  const rows: [string, string, string][] = summary.steps.map((s: StepRecord) => [
    s.name,
    verdictLabel(c, s.verdict),
    seconds(s.durationMs),
  ]);
  for (const check of worstFirst(summary.checks)) rows.push([`  ${check.id}`, verdictLabel(c, check.verdict), '']);
  const width = Math.max(...rows.map((r) => r[0].length), 10);
  out(c.bold(`${'step / check'.padEnd(width)}  verdict`));
  for (const [name, verdict, time] of rows) out(`${name.padEnd(width)}  ${verdict}${time ? c.dim(`  ${time}`) : ''}`);
}

function writeDone(c: ChalkInstance, out: WriteLine, err: WriteLine, r: CommandResult): void {
  writeFinalTable(c, out, r);
  for (const line of r.lines ?? []) out(line);
  if (r.error) {
    err(`${c.red('error:')} ${r.error.message}`);
    for (const d of r.error.details ?? []) err(`  ${d}`);
    if (r.error.hint) err(`${c.dim('what to do:')} ${r.error.hint}`);
  }
  if (r.bundle) out(`${c.dim('bundle:')} ${r.bundle}`);
  if (r.dryRun) {
    const planned = r.summary?.steps.flatMap((step) => step.commands).filter((c) => c.planned).length ?? 0;
    out(
      `${c.bold('dry run:')} ${planned} command(s) above would run; read-only ones ran, nothing was triggered or written ${c.dim(`(exit ${r.exitCode})`)}`,
    );
  } else if (r.summary?.status === 'partial') {
    out(
      `${c.bold(`${r.command}:`)} ${verdictLabel(c, exitVerdict(r.exitCode))} ${c.dim(`(exit ${r.exitCode}; the bundle is partial until every step has run, e.g. by rehearse backfill)`)}`,
    );
  } else if (r.summary) {
    out(
      `${c.bold('verdict:')} ${verdictLabel(c, r.summary.verdict)} ${c.dim(`(bundle ${r.summary.status}, exit ${r.exitCode})`)}`,
    );
  }
}

/** Human output: one line per step, command and check, then a table of verdicts. */
/** How a command ended, in one short line: the exit code, or that rehearse stopped it itself. */
function commandEnd(c: ChalkInstance, event: Extract<RehearseEvent, { type: 'command-end' }>): string {
  const took = seconds(event.durationMs);
  if (event.stoppedByUs) return c.dim(`stopped by rehearse, which had what it needed (not a failure) · ${took}`);
  if (!event.ok) return `${c.red(`exit ${event.exitCode ?? 'none'}`)} ${c.dim(took)}`;
  return c.dim(`exit 0 · ${took}`);
}

// long: one switch with a case of one to four lines per event type; the cases share the live line, the two streams and the step tags
export function createPrettyReporter(options: PrettyOptions): Reporter {
  const c = new Chalk({ level: options.color ? 1 : 0 });
  const redact = options.redact ?? ((text: string) => text);
  const live = createLiveLine(options, c, redact);
  const out: WriteLine = (line) => {
    live.clear();
    options.stream.write(`${redact(line)}\n`);
  };
  const err: WriteLine = (line) => {
    live.clear();
    (options.errorStream ?? options.stream).write(`${redact(line)}\n`);
  };
  // Steps of one stage run side by side: while more than one is under way, each line names its step.
  const active = new Set<string>();
  const tag = (step: string): string => (active.size > 1 ? c.cyan(`[${step}] `) : '');
  return {
    emit(event: RehearseEvent) {
      switch (event.type) {
        case 'step-start':
          active.add(event.step);
          out(`${c.bold.blue('▶')} ${c.bold(event.step)} ${c.dim(`— ${event.title}`)}`);
          break;
        case 'command-start':
          if (event.dryRun) out(`  ${tag(event.step)}${c.yellow('would run')} ${event.display}`);
          else {
            out(`  ${tag(event.step)}${c.dim('$')} ${event.display}`);
            live.start(event.display);
          }
          break;
        case 'command-end':
          live.stop();
          out(`    ${tag(event.step)}${commandEnd(c, event)}`);
          break;
        case 'waiting':
          if (options.live) live.start(event.message);
          else out(`  ${tag(event.step)}${c.dim('…')} ${event.message}`);
          break;
        case 'check': {
          const { check } = event;
          out(`  ${tag(check.step)}${verdictLabel(c, check.verdict)} ${check.title} ${c.dim(`— ${check.reason}`)}`);
          break;
        }
        case 'step-end': {
          live.stop();
          active.delete(event.record.name);
          const r = event.record;
          if (r.error)
            err(`  ${c.red('✖')} ${r.error.message}${r.error.hint ? `\n    ${c.dim(`→ ${r.error.hint}`)}` : ''}`);
          // The step's verdict, as the closing table and summary.json give it (not whether it ran).
          out(`  ${c.dim(r.name)} ${verdictLabel(c, r.verdict)} ${c.dim(`in ${seconds(r.durationMs)}`)}`);
          break;
        }
        case 'info':
          out(event.message);
          break;
        case 'warn':
          out(`${c.yellow('!')} ${event.message}`);
          break;
        case 'done':
          live.stop();
          writeDone(c, out, err, event.result);
          break;
      }
    },
    async close() {
      live.stop();
    },
  };
}
