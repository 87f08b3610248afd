import { createRequire } from 'node:module';
import { Command, CommanderError, Option } from 'commander';
import { ExitCode, isRehearseError, RehearseError } from './errors.js';
import type { SecretKeeper } from './evidence/redact.js';
import type { CommandResult, Reporter } from './report/events.js';
import type { SessionOptions } from './session.js';

const require = createRequire(import.meta.url);
const { version } = require('../package.json') as { version: string };

interface CommonFlags {
  json?: boolean;
  junit?: string;
  ci?: boolean;
  color?: boolean;
  dryRun?: boolean;
}

interface RehearsalFlags extends CommonFlags {
  config?: string;
  sandbox?: boolean;
  bundle?: string;
  newBundle?: boolean;
  evidenceRoot?: string;
  projectDir?: string;
  deployment?: string;
  workPool?: string;
  manifest?: string;
  failFast?: boolean;
  leaveRuns?: boolean;
}

/** Reporters load when a command runs, so --help and --version start as fast as commander allows. */
async function makeReporter(
  flags: CommonFlags & { param?: string[] },
  env: NodeJS.ProcessEnv,
  redact: SecretKeeper,
): Promise<Reporter> {
  const [{ createPrettyReporter }, { combineReporters }] = await Promise.all([
    import('./report/pretty.js'),
    import('./report/events.js'),
  ]);
  const ci = Boolean(flags.ci) || Boolean(env.CI && env.CI !== 'false' && env.CI !== '0');
  const stream = flags.json ? process.stderr : process.stdout;
  const color = flags.color !== false && !env.NO_COLOR && !ci && Boolean(stream.isTTY);
  const reporters = [createPrettyReporter({ stream, color, live: !ci && Boolean(stream.isTTY), redact })];
  if (flags.json) reporters.push((await import('./report/json.js')).createJsonReporter(process.stdout, redact));
  if (flags.junit) reporters.push((await import('./report/junit.js')).createJunitReporter(flags.junit, redact));
  return combineReporters(reporters);
}

/** The one redactor of a command: every reporter and the session share it, so what one learns all mask. */
async function makeRedactor(flags: CommonFlags & { param?: string[] }, env: NodeJS.ProcessEnv): Promise<SecretKeeper> {
  const { collectSecrets, createRedactor } = await import('./evidence/redact.js');
  // --param values named like secrets, as parsed JSON (a nested token) and as typed (digits parse as a number).
  const params = (flags.param ?? []).map((pair) => {
    const [key, raw] = [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)];
    let parsed: unknown = raw;
    try {
      parsed = JSON.parse(raw);
    } catch {
      /* a plain string */
    }
    return { [key]: parsed, [`${key}_as_typed`]: raw };
  });
  return createRedactor(collectSecrets(env, params));
}

function addCommonOptions(command: Command): Command {
  return command
    .option('--json', 'print one JSON summary on stdout (progress goes to stderr)')
    .option('--junit <file>', 'write a JUnit report: one test case per step and per guardrail')
    .option('--ci', 'no prompts, no live progress, no colour (automatic when CI is set)')
    .option('--no-color', 'no colour (NO_COLOR is honoured too)');
}

function addRehearsalOptions(command: Command): Command {
  return addCommonOptions(command)
    .option('-c, --config <file>', 'config file (default: rehearse.config.json|yaml in the working directory)')
    .option('--sandbox', 'use the local sandbox (started if it is not running)')
    .option('--bundle <dir>', 'evidence bundle to fill (default: the newest open bundle, or a new one)')
    .option('--new-bundle', 'start a new bundle even if an open one exists')
    .option('--evidence-root <dir>', 'where bundles are created (default: dist/staging/backfill)')
    .option('--project-dir <dir>', 'the hotpass checkout: manifests, and where uv runs (default: .)')
    .option('--deployment <name>', 'flow/deployment, or a bare deployment name (default: hotpass-backfill)')
    .option('--work-pool <name>', 'work pool (default: hotpass-backfill-pool)')
    .option('--manifest <file>', 'deployment manifest that holds the expected guardrails')
    .option('--dry-run', 'print every command it would run; run only read-only ones; write nothing');
}

function overridesFrom(flags: RehearsalFlags): Record<string, unknown> {
  return {
    evidenceRoot: flags.evidenceRoot,
    projectDir: flags.projectDir,
    deployment: flags.deployment,
    workPool: flags.workPool,
    manifest: flags.manifest,
  };
}

export interface MainIo {
  env: NodeJS.ProcessEnv;
  cwd: string;
}

/** Wires commands to their functions; the only place that turns results into an exit code. */
export async function main(argv: string[], io: MainIo = { env: process.env, cwd: process.cwd() }): Promise<number> {
  let exitCode: number = ExitCode.ok;
  let secrets: SecretKeeper | undefined;
  const controller = new AbortController();
  // Every signal ends one way: the abort reaches the steps, which stop their children and the browser,
  // cancel the runs (unless --leave-runs) and record the bundle interrupted; the command exits 3.
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals): void => {
    signals += 1;
    if (signals === 1) {
      process.stderr.write(`\n${signal}: stopping: cancelling the rehearsal's runs and recording the interruption\n`);
      controller.abort(new RehearseError('INTERRUPTED', `interrupted by ${signal}`));
    } else if (signals === 2) {
      process.stderr.write(
        `${signal}: still stopping, usually a few seconds; a third signal quits at once and leaves the runs\n`,
      );
    } else {
      // The bundle's lock stays behind, so the next command reports it abandoned.
      process.stderr.write(
        `${signal}: quitting at once; the bundle will be reported abandoned: run \`rehearse cleanup\` for its runs\n`,
      );
      process.exit(ExitCode.couldNotRun);
    }
  };
  const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

  async function execute(
    flags: CommonFlags,
    name: string,
    action: (reporter: Reporter) => Promise<CommandResult>,
  ): Promise<void> {
    secrets = await makeRedactor(flags, io.env);
    const reporter = await makeReporter(flags, io.env, secrets);
    for (const signal of SIGNALS) process.on(signal, onSignal);
    let result: CommandResult;
    try {
      result = await action(reporter);
    } catch (error) {
      if (!isRehearseError(error)) throw error;
      result = {
        command: name,
        exitCode: error.exitCode,
        verdict: 'error',
        error: {
          code: error.code,
          message: error.message,
          details: error.details,
          ...(error.hint ? { hint: error.hint } : {}),
        },
      };
    } finally {
      for (const signal of SIGNALS) process.off(signal, onSignal);
    }
    reporter.emit({ type: 'done', result });
    await reporter.close();
    exitCode = result.exitCode;
  }

  function session(flags: RehearsalFlags, reporter: Reporter, extra: Record<string, unknown> = {}): SessionOptions {
    const ci = Boolean(flags.ci) || Boolean(io.env.CI && io.env.CI !== 'false' && io.env.CI !== '0');
    return {
      cwd: io.cwd,
      env: io.env,
      ...(flags.config ? { configFile: flags.config } : {}),
      overrides: { ...overridesFrom(flags), ...extra },
      flags: {
        dryRun: Boolean(flags.dryRun),
        ci,
        failFast: Boolean(flags.failFast),
        leaveRuns: Boolean(flags.leaveRuns),
      },
      sandbox: Boolean(flags.sandbox),
      ...(flags.bundle ? { bundle: flags.bundle } : {}),
      newBundle: Boolean(flags.newBundle),
      reporter,
      signal: controller.signal,
      ...(secrets ? { redactor: secrets } : {}),
    };
  }

  const program = new Command('rehearse')
    .description('Rehearse the Prefect backfill guardrails in staging and file the evidence.')
    .version(version, '-V, --version')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();

  interface StepFlags extends RehearsalFlags {
    since?: string;
    until?: string;
    workQueue?: string;
    burst?: string;
    param?: string[];
    watchTimeout?: string;
    flowRun?: string[];
    allRuns?: boolean;
    to?: string;
  }

  const collect = (value: string, previous: string[] = []): string[] => [...previous, value];
  const positiveInt = (flag: string, value: string | undefined): number | undefined => {
    if (value === undefined) return undefined;
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1)
      throw new RehearseError('USAGE', `${flag} expects a whole number of at least 1, got '${value}'`, {
        hint: `e.g. ${flag} 3`,
      });
    return n;
  };
  const parseParams = (pairs: string[] = []): Record<string, unknown> =>
    Object.fromEntries(
      pairs.map((pair) => {
        const eq = pair.indexOf('=');
        if (eq < 1)
          throw new RehearseError('USAGE', `--param expects key=value, got '${pair}'`, {
            hint: 'the value is read as JSON when it parses, e.g. --param day_seconds=2',
          });
        const raw = pair.slice(eq + 1);
        let value: unknown = raw;
        try {
          value = JSON.parse(raw);
        } catch {
          /* a plain string */
        }
        return [pair.slice(0, eq), value];
      }),
    );
  const runOverrides = (flags: StepFlags): Record<string, unknown> => {
    const burst = positiveInt('--burst', flags.burst);
    const watch = positiveInt('--watch-timeout', flags.watchTimeout);
    const params = parseParams(flags.param);
    return {
      run: {
        since: flags.since,
        until: flags.until,
        workQueue: flags.workQueue,
        burst,
        ...(flags.param ? { parameters: params } : {}),
      },
      ...(watch ? { timeouts: { watchSeconds: watch } } : {}),
    };
  };
  const withRunOptions = (command: Command): Command =>
    command
      .option('--since <date>', 'first day of the backfill window (YYYY-MM-DD; default 2024-01-01)')
      .option('--until <date>', 'last day of the backfill window (YYYY-MM-DD; default 2024-01-07)')
      .option('--work-queue <queue>', "target this work queue of the deployment's pool (created if missing)")
      .option('--burst <n>', 'submit n runs at once so the concurrency guardrail is exercised')
      .option('--param <key=value>', 'extra flow parameter (JSON value), repeatable', collect)
      .option('--watch-timeout <seconds>', 'give up watching after this long (default 900)');
  const withRunSelection = (command: Command): Command =>
    command
      .option('--flow-run <id>', "flow run to look at instead of the bundle's (repeatable)", collect)
      .option('--all-runs', 'consider every run of the deployment, not only those of this rehearsal');

  const stepCommands: {
    name: string;
    description: string;
    example: string;
    extra?: (c: Command) => Command;
    run: (flags: StepFlags, reporter: Reporter) => Promise<CommandResult>;
  }[] = [
    {
      name: 'backfill',
      description: 'the whole rehearsal: preflight, render, inspect, run, capture, validate, upload, into one bundle',
      example:
        'rehearse backfill --sandbox\n  $ rehearse backfill --ci --junit rehearsal.xml --to s3://evidence/staging/backfill',
      extra: (c) =>
        withRunOptions(c)
          .option('--to <target>', 'upload the bundle to a directory or s3://bucket/prefix')
          .option('--fail-fast', 'stop at the first failed guardrail')
          .option('--leave-runs', "on interruption or failure, leave the rehearsal's flow runs as they are"),
      run: async (flags, reporter) =>
        (await import('./commands/backfill.js')).backfill(session(flags, reporter, runOverrides(flags)), {
          ...(flags.to ? { to: flags.to } : {}),
        }),
    },
    {
      name: 'doctor',
      description:
        "the runbook's troubleshooting as checks: tools, API, deployment, live worker, global limit free, evidence root",
      example: 'rehearse doctor --sandbox\n  $ PREFECT_API_URL=https://staging/api rehearse doctor --json',
      run: async (flags, reporter) => (await import('./commands/doctor.js')).doctor(session(flags, reporter)),
    },
    {
      name: 'render',
      description: 'runbook step 1: render the manifests, changing nothing in staging; keep them; tabulate drift',
      example: 'rehearse render --sandbox',
      run: async (flags, reporter) => (await import('./commands/render.js')).render(session(flags, reporter)),
    },
    {
      name: 'inspect',
      description: 'runbook step 2: export the live deployment and judge its guardrails against the manifest',
      example:
        'rehearse inspect --sandbox\n  $ PREFECT_API_URL=https://staging/api rehearse inspect --deployment hotpass-backfill --json',
      run: async (flags, reporter) => (await import('./commands/inspect.js')).inspect(session(flags, reporter)),
    },
    {
      name: 'run',
      description: 'runbook step 3: trigger a bounded backfill, watch it to the end, keep the log and the run ids',
      example: 'rehearse run --sandbox --since 2024-01-01 --until 2024-01-03 --burst 3',
      extra: (c) =>
        withRunOptions(c).option('--leave-runs', 'on interruption or failure, leave the flow runs as they are'),
      run: async (flags, reporter) =>
        (await import('./commands/run.js')).run(session(flags, reporter, runOverrides(flags))),
    },
    {
      name: 'capture',
      description: 'runbook step 4: export flow-run metadata and state histories; screenshot the run page',
      example: 'rehearse capture --sandbox\n  $ rehearse capture --flow-run 43fba3f4-0ca6-49a0-a00e-bfeb335a1d0c',
      extra: withRunSelection,
      run: async (flags, reporter) =>
        (await import('./commands/capture.js')).capture(session(flags, reporter), {
          flowRunIds: flags.flowRun ?? [],
          allRuns: Boolean(flags.allRuns),
        }),
    },
    {
      name: 'validate',
      description: 'runbook step 5: measure the true peak of RUNNING runs and judge every limit; a violation exits 1',
      example: 'rehearse validate --sandbox\n  $ rehearse validate --bundle dist/staging/backfill/20261126T011109Z',
      extra: withRunSelection,
      run: async (flags, reporter) =>
        (await import('./commands/validate.js')).validate(session(flags, reporter), {
          flowRunIds: flags.flowRun ?? [],
          allRuns: Boolean(flags.allRuns),
        }),
    },
    {
      name: 'upload',
      description: 'runbook step 6: copy the bundle to a directory or S3 bucket, verify every checksum there, log it',
      example:
        'rehearse upload --to /mnt/evidence/staging\n  $ AWS_ENDPOINT_URL=http://127.0.0.1:5000 rehearse upload --to s3://evidence/backfill',
      extra: (c) =>
        c.option('--to <target>', 'a directory, or s3://bucket/prefix (default: upload.to in rehearse.config)'),
      run: async (flags, reporter) => (await import('./commands/upload.js')).upload(session(flags, reporter), flags.to),
    },
  ];
  for (const spec of stepCommands) {
    const command = addRehearsalOptions(
      program.command(spec.name).description(spec.description).addHelpText('after', `\nExample:\n  $ ${spec.example}`),
    );
    (spec.extra ? spec.extra(command) : command).action(async (flags: StepFlags) => {
      await execute(flags, spec.name, (reporter) => spec.run(flags, reporter));
    });
  }

  addRehearsalOptions(
    program
      .command('cleanup')
      .description(
        "cancel a rehearsal's leftover flow runs (found by its tag) and free the concurrency slots they hold",
      )
      .addHelpText(
        'after',
        '\nExample:\n  $ rehearse cleanup --sandbox --bundle dist/staging/backfill/20261126T011109Z\n  $ rehearse cleanup --all --dry-run',
      ),
  )
    .option('--all', "every unfinished run tagged `rehearse` of the deployment, not one bundle's")
    .option(
      '--grace <seconds>',
      'how long a live worker gets to stop a started run before Cancelled is forced (default 20)',
    )
    .action(async (flags: RehearsalFlags & { all?: boolean; grace?: string }) => {
      await execute(flags, 'cleanup', async (reporter) => {
        const grace = flags.grace === undefined ? undefined : Number(flags.grace);
        if (grace !== undefined && (!Number.isFinite(grace) || grace < 0))
          throw new RehearseError('USAGE', `--grace expects seconds (0 or more), got '${flags.grace}'`, {
            hint: 'e.g. --grace 10',
          });
        return (await import('./commands/cleanup.js')).cleanup(session(flags, reporter), {
          all: Boolean(flags.all),
          ...(grace === undefined ? {} : { graceSeconds: grace }),
        });
      });
    });

  addCommonOptions(
    program
      .command('init')
      .description(
        'in a project checkout, write a commented rehearse.config.yaml from its manifests, deploy CLI and live deployment',
      )
      .option('--project-dir <dir>', 'the project checkout (default: .)')
      .option('--deployment <name>', "deployment to read from the server (default: the manifest's name)")
      .option('--sandbox', 'read the deployment from the running sandbox instead of PREFECT_API_URL')
      .option('--stdout', 'print the file instead of writing it')
      .option('--dry-run', 'the same as --stdout')
      .option('--force', 'when a config exists, write rehearse.config.yaml.new beside it instead of refusing')
      .addHelpText(
        'after',
        '\nExample:\n  $ cd hotpass && PREFECT_API_URL=https://staging/api rehearse init\n  $ rehearse init --sandbox --stdout',
      ),
  ).action(
    async (
      flags: CommonFlags & {
        projectDir?: string;
        deployment?: string;
        sandbox?: boolean;
        stdout?: boolean;
        force?: boolean;
      },
    ) => {
      await execute(flags, 'init', async (reporter) =>
        (await import('./commands/init.js')).init({
          cwd: io.cwd,
          env: io.env,
          reporter,
          signal: controller.signal,
          sandbox: Boolean(flags.sandbox),
          print: Boolean(flags.stdout || flags.dryRun),
          force: Boolean(flags.force),
          ...(flags.projectDir ? { projectDir: flags.projectDir } : {}),
          ...(flags.deployment ? { deployment: flags.deployment } : {}),
        }),
      );
    },
  );

  addCommonOptions(
    program
      .command('verify')
      .argument('<dir>', 'the bundle directory, or a copy of it')
      .description(
        're-check a bundle offline: every file present and matching SHA256SUMS, verdicts consistent with the evidence',
      )
      .addHelpText(
        'after',
        '\nExample:\n  $ rehearse verify dist/staging/backfill/20261126T013217Z\n  $ rehearse verify /mnt/evidence/staging/20261126T013217Z --json',
      ),
  ).action(async (dir: string, flags: CommonFlags) => {
    await execute(flags, 'verify', async () => (await import('./commands/verify.js')).verify({ dir, cwd: io.cwd }));
  });

  addCommonOptions(
    program
      .command('report')
      .argument('[bundle]', 'the bundle directory (default: the newest under the evidence root)')
      .description('write report.html and concurrency.svg into a bundle, from its files alone (offline)')
      .option('--compare <bundles...>', 'OLDER NEWER: two bundles side by side (HTML on stdout, or --out)')
      .option('--out <file>', 'write the HTML here instead (the bundle is left as it is)')
      .option('--evidence-root <dir>', 'where bundles are (default: evidenceRoot of rehearse.config)')
      .option('-c, --config <file>', 'config file (default: rehearse.config.json|yaml in the working directory)')
      .addHelpText(
        'after',
        '\nExample:\n  $ rehearse report dist/staging/backfill/20261126T013217Z\n  $ rehearse report --compare dist/staging/backfill/20261125T090000Z dist/staging/backfill/20261126T013217Z --out diff.html',
      ),
  ).action(
    async (
      bundle: string | undefined,
      flags: CommonFlags & { compare?: string[]; out?: string; evidenceRoot?: string; config?: string },
    ) => {
      await execute(flags, 'report', async () =>
        (await import('./commands/report.js')).report({
          cwd: io.cwd,
          ...(bundle ? { bundle } : {}),
          ...(flags.compare ? { compare: flags.compare } : {}),
          ...(flags.out ? { out: flags.out } : {}),
          ...(flags.evidenceRoot ? { evidenceRoot: flags.evidenceRoot } : {}),
          ...(flags.config ? { configFile: flags.config } : {}),
        }),
      );
    },
  );

  const sandbox = program
    .command('sandbox')
    .description('a local Prefect server, process worker and hotpass backfill deployment');
  const stateDirOption = (): Option =>
    new Option(
      '--state-dir <dir>',
      'where the sandbox keeps its database and logs (default: $REHEARSE_SANDBOX_HOME or ~/.local/state/rehearse/sandbox)',
    );
  type SandboxFlags = CommonFlags & {
    stateDir?: string;
    port?: string;
    purge?: boolean;
    projectDir?: string;
    workers?: string;
  };
  const sandboxAction = (name: 'up' | 'down' | 'status' | 'env') => async (flags: SandboxFlags) => {
    await execute(flags, `sandbox ${name}`, async (reporter) => {
      const commands = await import('./commands/sandbox.js');
      const { defaultStateDir } = await import('./sandbox/state.js');
      const port = flags.port === undefined ? undefined : Number(flags.port);
      if (port !== undefined && (!Number.isInteger(port) || port < 1 || port > 65535)) {
        throw new RehearseError('USAGE', `--port expects a port number (1-65535), got '${flags.port}'`, {
          hint: 'omit --port to use a free one',
        });
      }
      const options = {
        stateDir: flags.stateDir ?? defaultStateDir(io.env),
        reporter,
        ...(port ? { port } : {}),
        ...(flags.purge ? { purge: true } : {}),
        cwd: io.cwd,
        signal: controller.signal,
        ...(flags.projectDir ? { projectDir: flags.projectDir } : {}),
        ...(flags.workers ? { workers: flags.workers } : {}),
      };
      const run = {
        up: commands.sandboxUpCommand,
        down: commands.sandboxDownCommand,
        status: commands.sandboxStatusCommand,
        env: commands.sandboxEnvCommand,
      }[name];
      return run(options);
    });
  };
  addCommonOptions(
    sandbox
      .command('up')
      .description('start the sandbox (idempotent)')
      .addOption(stateDirOption())
      .option('--port <port>', 'API port on 127.0.0.1 (default: a free one)')
      .option(
        '--project-dir <dir>',
        'host this project (its uv environment, manifest and own deploy command) instead of fixtures/hotpass',
      )
      .option('--workers <n>', 'process workers to start on the pool (default 1)')
      .addHelpText(
        'after',
        '\nExample:\n  $ rehearse sandbox up && rehearse inspect --sandbox\n  $ rehearse sandbox up --project-dir fixtures/hotpass-upstream --workers 2',
      ),
  ).action(sandboxAction('up'));
  addCommonOptions(
    sandbox
      .command('down')
      .description('stop exactly what `sandbox up` started')
      .addOption(stateDirOption())
      .option('--purge', 'also delete its database and logs')
      .addHelpText('after', '\nExample:\n  $ rehearse sandbox down --purge'),
  ).action(sandboxAction('down'));
  addCommonOptions(
    sandbox
      .command('status')
      .description('print the API URL and what runs')
      .addOption(stateDirOption())
      .addHelpText('after', '\nExample:\n  $ rehearse sandbox status --json'),
  ).action(sandboxAction('status'));
  addCommonOptions(
    sandbox
      .command('env')
      .description('print export lines to use the sandbox by hand')
      .addOption(stateDirOption())
      .addHelpText(
        'after',
        '\nExample:\n  $ eval "$(rehearse sandbox env)" && cd fixtures/hotpass && uv run prefect gcl ls',
      ),
  ).action(sandboxAction('env'));

  try {
    await program.parseAsync(argv);
  } catch (error) {
    if (error instanceof CommanderError) {
      if (
        error.code === 'commander.helpDisplayed' ||
        error.code === 'commander.version' ||
        error.code === 'commander.help'
      )
        return ExitCode.ok;
      return ExitCode.usage;
    }
    process.stderr.write(`rehearse: internal error: ${(error as Error).message}\n`);
    if (io.env.REHEARSE_DEBUG) process.stderr.write(`${(error as Error).stack}\n`);
    else process.stderr.write('this is a bug in rehearse; rerun with REHEARSE_DEBUG=1 for details and report it\n');
    return ExitCode.couldNotRun;
  }
  return exitCode;
}
