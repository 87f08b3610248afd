import type { Command } from 'commander';
import { describeFaults, type FaultFlags, parseFaultFlags } from '../config/faults.js';
import type { CommandResult, Reporter } from '../reporters/events.js';
import type { SessionOptions } from '../session.js';
import {
  addExamples,
  addRehearsalOptions,
  collect,
  type RunFlags,
  runOverrides,
  withRunOptions,
  withRunSelection,
} from './options.js';
import type { CliRuntime } from './runtime.js';

interface StepFlags extends RunFlags, FaultFlags {
  fix?: boolean;
  yes?: boolean;
  flowRun?: string[];
  allRuns?: boolean;
  to?: string;
}

interface RunSelection {
  flowRunIds: string[];
  allRuns: boolean;
}

interface StepCommand {
  name: string;
  description: string;
  examples: string[];
  options?: (command: Command) => Command;
  run: (cli: CliRuntime, flags: StepFlags, reporter: Reporter) => Promise<CommandResult>;
}

/** capture and validate: a step over the bundle's runs, or the runs --flow-run and --all-runs name. */
function selectionCommand(
  name: string,
  description: string,
  examples: string[],
  run: (session: SessionOptions, selection: RunSelection) => Promise<CommandResult>,
): StepCommand {
  return {
    name,
    description,
    examples,
    options: withRunSelection,
    run: (cli, flags, reporter) =>
      run(cli.session(flags, reporter), { flowRunIds: flags.flowRun ?? [], allRuns: Boolean(flags.allRuns) }),
  };
}

/** The run flags and the faults: flags replace the config's faults list whole. */
function backfillOverrides(flags: StepFlags): Record<string, unknown> {
  const faults = parseFaultFlags(flags);
  return { ...runOverrides(flags), ...(faults ? { faults } : {}) };
}

/** The runbook's commands, in the order `rehearse --help` lists them; each lazy-loads its code when it runs. */
const STEP_COMMANDS: StepCommand[] = [
  {
    name: 'backfill',
    description: 'the whole rehearsal: preflight, render, inspect, run, capture, validate, upload, into one bundle',
    examples: [
      'rehearse backfill --sandbox',
      'rehearse backfill --ci --junit rehearsal.xml --to s3://evidence/staging/backfill',
    ],
    options: (c) =>
      withRunOptions(c)
        .option('--to <target>', 'upload the bundle to a directory or s3://bucket/prefix')
        .option('--fail-fast', 'stop at the first failed guardrail')
        .option('--leave-runs', "on interruption or failure, leave the rehearsal's flow runs as they are")
        .option('--fault <kind[@moment]>', 'inject a fault into the burst (repeatable; listed below)', collect)
        .option('--fault-command <cmd>', "run this command once, at --fault-at's moment, as a fault")
        .option('--fault-at <moment>', 'when --fault-command runs (default limit-reached)')
        .option('--fault-timeout <seconds>', "--fault-command's deadline (default 60)")
        .option(
          '--fault-down <seconds>',
          'how long kill-worker keeps the worker down, or api-outage the API (default 10)',
        )
        .addHelpText('after', `\n${describeFaults().join('\n')}`),
    run: async (cli, flags, reporter) =>
      (await import('../commands/backfill.js')).backfill(cli.session(flags, reporter, backfillOverrides(flags)), {
        ...(flags.to ? { to: flags.to } : {}),
      }),
  },
  {
    name: 'doctor',
    description:
      "the runbook's troubleshooting as checks: tools, API, deployment, live worker, global limit free, evidence root",
    examples: [
      'rehearse doctor --sandbox',
      'PREFECT_API_URL=https://staging/api rehearse doctor --json',
      'rehearse doctor --fix --yes',
    ],
    options: (c) =>
      c
        .option('--fix', 'apply the safe fixes of the failed checks (asking first on a terminal), then check again')
        .option('--yes', 'with --fix: apply without asking (CI)'),
    run: async (cli, flags, reporter) =>
      (await import('../commands/doctor.js')).doctor(cli.session(flags, reporter), {
        fix: Boolean(flags.fix),
        yes: Boolean(flags.yes),
      }),
  },
  {
    name: 'render',
    description: 'runbook step 1: render the manifests, changing nothing in staging; keep them; tabulate drift',
    examples: ['rehearse render --sandbox'],
    run: async (cli, flags, reporter) => (await import('../commands/render.js')).render(cli.session(flags, reporter)),
  },
  {
    name: 'inspect',
    description: 'runbook step 2: export the live deployment and judge its guardrails against the manifest',
    examples: [
      'rehearse inspect --sandbox',
      'PREFECT_API_URL=https://staging/api rehearse inspect --deployment hotpass-backfill --json',
    ],
    run: async (cli, flags, reporter) => (await import('../commands/inspect.js')).inspect(cli.session(flags, reporter)),
  },
  {
    name: 'run',
    description: 'runbook step 3: trigger a bounded backfill, watch it to the end, keep the log and the run ids',
    examples: ['rehearse run --sandbox --since 2024-01-01 --until 2024-01-03 --burst 3'],
    options: (c) =>
      withRunOptions(c).option('--leave-runs', 'on interruption or failure, leave the flow runs as they are'),
    run: async (cli, flags, reporter) =>
      (await import('../commands/run.js')).run(cli.session(flags, reporter, runOverrides(flags))),
  },
  selectionCommand(
    'capture',
    'runbook step 4: export flow-run metadata and state histories; screenshot the run page',
    ['rehearse capture --sandbox', 'rehearse capture --flow-run 43fba3f4-0ca6-49a0-a00e-bfeb335a1d0c'],
    async (session, selection) => (await import('../commands/capture.js')).capture(session, selection),
  ),
  selectionCommand(
    'validate',
    'runbook step 5: measure the true peak of RUNNING runs and judge every limit; a violation exits 1',
    ['rehearse validate --sandbox', 'rehearse validate --bundle dist/staging/backfill/20261126T011109Z'],
    async (session, selection) => (await import('../commands/validate.js')).validate(session, selection),
  ),
  {
    name: 'upload',
    description: 'runbook step 6: copy the bundle to a directory or S3 bucket, verify every checksum there, log it',
    examples: [
      'rehearse upload --to /mnt/evidence/staging',
      'AWS_ENDPOINT_URL=http://127.0.0.1:5000 rehearse upload --to s3://evidence/backfill',
    ],
    options: (c) =>
      c.option('--to <target>', 'a directory, or s3://bucket/prefix (default: upload.to in rehearse.config)'),
    run: async (cli, flags, reporter) =>
      (await import('../commands/upload.js')).upload(cli.session(flags, reporter), flags.to),
  },
];

export function defineRehearsalCommands(program: Command, cli: CliRuntime): void {
  for (const spec of STEP_COMMANDS) {
    const command = addRehearsalOptions(
      addExamples(program.command(spec.name).description(spec.description), ...spec.examples),
    );
    (spec.options ? spec.options(command) : command).action(async (flags: StepFlags) => {
      await cli.execute(flags, spec.name, (reporter) => spec.run(cli, flags, reporter));
    });
  }
}
