import { z } from 'zod';
import { RehearseError } from '../errors.js';

/**
 * The faults a rehearsal can inject and the moments it can inject them at. A moment is something the
 * run step's watch observes in the rehearsal's own runs, never a sleep, so a fault bites the same burst
 * however fast or slow the server is.
 */

const FAULT_KINDS = {
  'cancel-run': 'cancel one RUNNING rehearsal run through the API (any server)',
  'kill-flow': "SIGKILL the process of one RUNNING rehearsal run (sandbox: it knows its workers' processes)",
  'kill-worker': 'SIGKILL a worker of the pool, start it again after --fault-down seconds (sandbox; default 10)',
  'restart-api': 'stop the API server and start it again at once, as sandbox up starts it (sandbox)',
  'api-outage':
    'stop the API server, start it again after --fault-down seconds: rehearse rides it out (sandbox; default 10)',
  command: "the operator's own command (--fault-command 'CMD'), run once",
} as const;

const FAULT_MOMENTS = {
  'first-running': 'the first rehearsal run is RUNNING',
  'limit-reached': 'as many runs RUNNING as the strictest limit (the default)',
} as const;

type FaultKind = keyof typeof FAULT_KINDS;
/** Kinds that act on the sandbox's own processes: elsewhere the operator's --fault-command does their work. */
const SANDBOX_KINDS: ReadonlySet<FaultKind> = new Set(['kill-flow', 'kill-worker', 'restart-api', 'api-outage']);
/** The faults that stop the sandbox's API server for a while. */
const SERVER_KINDS: ReadonlySet<FaultKind> = new Set(['restart-api', 'api-outage']);
export const stopsServer = (kind: string): boolean => SERVER_KINDS.has(kind as FaultKind);
/** Kinds that keep something down for --fault-down seconds. */
const DOWN_KINDS: ReadonlySet<string> = new Set(['kill-worker', 'api-outage']);
export type FaultMoment = keyof typeof FAULT_MOMENTS;
const DEFAULT_MOMENT: FaultMoment = 'limit-reached';
const DEFAULT_COMMAND_SECONDS = 60;
const DEFAULT_DOWN_SECONDS = 10;

const kindNames = Object.keys(FAULT_KINDS) as [FaultKind, ...FaultKind[]];
const momentNames = Object.keys(FAULT_MOMENTS) as [FaultMoment, ...FaultMoment[]];
const MomentSchema = z.enum(momentNames);

/** A fault that only needs its moment. */
const momentFault = <K extends FaultKind>(kind: K) =>
  z.object({ kind: z.literal(kind), at: MomentSchema.default(DEFAULT_MOMENT) }).strict();
/** A fault that keeps something down (the worker, the API) for `downSeconds` before starting it again. */
const downFault = <K extends FaultKind>(kind: K) =>
  z
    .object({
      kind: z.literal(kind),
      at: MomentSchema.default(DEFAULT_MOMENT),
      downSeconds: z.number().positive().default(DEFAULT_DOWN_SECONDS),
    })
    .strict();

/** One entry of the config's `faults:` list (and what each --fault flag becomes). */
export const FaultSpecSchema = z.discriminatedUnion('kind', [
  momentFault('cancel-run'),
  momentFault('kill-flow'),
  downFault('kill-worker'),
  momentFault('restart-api'),
  downFault('api-outage'),
  z
    .object({
      kind: z.literal('command'),
      command: z.string().min(1),
      at: MomentSchema.default(DEFAULT_MOMENT),
      timeoutSeconds: z.number().positive().default(DEFAULT_COMMAND_SECONDS),
    })
    .strict(),
]);
export type FaultSpec = z.infer<typeof FaultSpecSchema>;

/** `rehearse faults` and the --help of backfill: one line per kind and per moment. */
export function describeFaults(): string[] {
  const width = Math.max(...[...kindNames, ...momentNames].map((name) => name.length));
  return [
    'Fault kinds (--fault KIND[@MOMENT], repeatable; or faults: in the config):',
    ...kindNames.map((kind) => `  ${kind.padEnd(width)}  ${FAULT_KINDS[kind]}`),
    'Moments (@MOMENT, observed in the rehearsal runs, not slept to):',
    ...momentNames.map((moment) => `  ${moment.padEnd(width)}  ${FAULT_MOMENTS[moment]}`),
  ];
}

function usage(message: string): RehearseError {
  return new RehearseError('USAGE', message, {
    details: describeFaults(),
    hint: 'e.g. --fault cancel-run@first-running',
  });
}

/** The kinds --fault takes by name (a command comes with --fault-command). */
type NamedKind = Exclude<FaultKind, 'command'>;
const isNamedKind = (value: string): value is NamedKind => value in FAULT_KINDS && value !== 'command';
const isMoment = (value: string): value is FaultMoment => value in FAULT_MOMENTS;

function parseMoment(flag: string, value: string | undefined): FaultMoment {
  if (value === undefined || value === '') return DEFAULT_MOMENT;
  if (!isMoment(value)) throw usage(`${flag}: unknown moment '${value}'`);
  return value;
}

function parseDown(value: string | undefined): number {
  if (value === undefined) return DEFAULT_DOWN_SECONDS;
  const seconds = Number(value);
  if (!(seconds > 0)) throw usage(`--fault-down expects a number of seconds above 0, got '${value}'`);
  return seconds;
}

export interface FaultFlags {
  fault?: string[];
  faultCommand?: string;
  faultAt?: string;
  faultTimeout?: string;
  faultDown?: string;
}

/** --fault KIND[@MOMENT] (repeatable) and --fault-command/--fault-at as the config's faults list; bad input exits 2. */
export function parseFaultFlags(flags: FaultFlags): FaultSpec[] | undefined {
  const specs: FaultSpec[] = [];
  for (const flag of flags.fault ?? []) {
    const [kind = '', moment, ...rest] = flag.split('@');
    if (rest.length > 0) throw usage(`--fault expects KIND[@MOMENT], got '${flag}'`);
    if (kind === 'command') throw usage("--fault command: give the command with --fault-command 'CMD'");
    if (!isNamedKind(kind)) throw usage(`--fault: unknown kind '${kind}'`);
    const at = parseMoment('--fault', moment);
    specs.push(
      kind === 'kill-worker' || kind === 'api-outage'
        ? { kind, at, downSeconds: parseDown(flags.faultDown) }
        : { kind, at },
    );
  }
  if (flags.faultDown !== undefined && !specs.some((spec) => DOWN_KINDS.has(spec.kind)))
    throw usage(
      '--fault-down says how long kill-worker keeps the worker down or api-outage the API, and neither is given',
    );
  if (flags.faultAt !== undefined && flags.faultCommand === undefined)
    throw usage('--fault-at names the moment of --fault-command, which is missing');
  if (flags.faultCommand !== undefined) {
    const seconds = flags.faultTimeout === undefined ? DEFAULT_COMMAND_SECONDS : Number(flags.faultTimeout);
    if (!(seconds > 0)) throw usage(`--fault-timeout expects a number of seconds above 0, got '${flags.faultTimeout}'`);
    if (!flags.faultCommand.trim()) throw usage('--fault-command expects a command');
    specs.push({
      kind: 'command',
      command: flags.faultCommand,
      at: parseMoment('--fault-at', flags.faultAt),
      timeoutSeconds: seconds,
    });
  }
  return specs.length ? specs : undefined;
}

/**
 * Refuses, before any bundle is made, faults that need the sandbox's processes where rehearse knows none
 * (no --sandbox, or a sandbox without recorded workers): exit 2, pointing at --fault-command.
 */
export function refuseSandboxFaults(specs: readonly FaultSpec[], workerPids: readonly number[]): void {
  const needing = [...new Set(specs.map((spec) => spec.kind).filter((kind) => SANDBOX_KINDS.has(kind as FaultKind)))];
  if (needing.length === 0 || workerPids.length > 0) return;
  throw new RehearseError(
    'USAGE',
    `--fault ${needing.join(', ')} needs the sandbox: only there does rehearse know the workers' processes`,
    {
      details: [
        'Against another server, inject it with a command of your own that does the same at the moment, e.g.',
        "  --fault-command 'kubectl delete pod -l prefect.io/flow-run-id=...' --fault-at limit-reached",
        'its output and exit code are kept in faults.json like any fault.',
      ],
      hint: 'add --sandbox, or use --fault-command with --fault-at',
    },
  );
}
