import { type Command, Option } from 'commander';
import { RehearseError } from '../errors.js';
import { addCommonOptions, addExamples } from './options.js';
import type { CliRuntime, CommonFlags } from './runtime.js';

type SandboxFlags = CommonFlags & {
  stateDir?: string;
  port?: string;
  purge?: boolean;
  projectDir?: string;
  workers?: string;
  database?: string;
  auth?: boolean;
  timing?: string;
};

type SandboxVerb = 'up' | 'down' | 'status' | 'env';

const stateDirOption = (): Option =>
  new Option(
    '--state-dir <dir>',
    'where the sandbox keeps its database and logs (default: $REHEARSE_SANDBOX_HOME or ~/.local/state/rehearse/sandbox)',
  );

export function defineSandboxCommands(program: Command, cli: CliRuntime): void {
  const sandbox = program
    .command('sandbox')
    .description('a local Prefect server, process worker and hotpass backfill deployment');
  const verb = (name: SandboxVerb, description: string): Command =>
    sandbox.command(name).description(description).addOption(stateDirOption());
  const up = verb('up', 'start the sandbox (idempotent)')
    .option('--port <port>', 'API port on 127.0.0.1 (default: a free one)')
    .option(
      '--project-dir <dir>',
      'host this project (its uv environment, manifest and own deploy command) instead of fixtures/hotpass',
    )
    .option('--workers <n>', 'process workers to start on the pool (default 1)')
    .addOption(
      new Option(
        '--database <kind>',
        "the server's database: its embedded SQLite (default), or a PostgreSQL cluster of its own",
      ).choices(['sqlite', 'postgres']),
    )
    .option('--auth', 'start the server with a basic-auth string, as a self-hosted staging server (see `sandbox env`)')
    .addOption(
      new Option(
        '--timing <pace>',
        "quick: workers poll every second and queued runs retry every second (default); staging: Prefect's own intervals",
      ).choices(['quick', 'staging']),
    );
  addCommonOptions(
    addExamples(
      up,
      'rehearse sandbox up && rehearse inspect --sandbox',
      'rehearse sandbox up --project-dir fixtures/hotpass-upstream --workers 2',
      'rehearse sandbox up --database postgres --workers 2 --auth',
    ),
  ).action(sandboxAction(cli, 'up'));
  const down = verb('down', 'stop exactly what `sandbox up` started').option(
    '--purge',
    'also delete its database and logs',
  );
  addCommonOptions(addExamples(down, 'rehearse sandbox down --purge')).action(sandboxAction(cli, 'down'));
  const status = verb('status', 'print the API URL and what runs');
  addCommonOptions(addExamples(status, 'rehearse sandbox status --json')).action(sandboxAction(cli, 'status'));
  const env = verb('env', 'print export lines to use the sandbox by hand');
  addCommonOptions(
    addExamples(env, 'eval "$(rehearse sandbox env)" && cd fixtures/hotpass && uv run prefect gcl ls'),
  ).action(sandboxAction(cli, 'env'));
}

function sandboxAction(cli: CliRuntime, name: SandboxVerb) {
  return async (flags: SandboxFlags): Promise<void> => {
    await cli.execute(flags, `sandbox ${name}`, async (reporter) => {
      const commands = await import('../commands/sandbox.js');
      const { defaultStateDir } = await import('../sandbox/state.js');
      const port = parsePort(flags.port);
      const options = {
        stateDir: flags.stateDir ?? defaultStateDir(cli.io.env),
        reporter,
        ...(port ? { port } : {}),
        ...(flags.purge ? { purge: true } : {}),
        cwd: cli.io.cwd,
        signal: cli.signal,
        ...(flags.projectDir ? { projectDir: flags.projectDir } : {}),
        ...(flags.workers ? { workers: flags.workers } : {}),
        ...(name === 'up' && flags.database ? { database: flags.database as 'sqlite' | 'postgres' } : {}),
        ...(name === 'up' && flags.timing ? { timing: flags.timing as 'quick' | 'staging' } : {}),
        ...(name === 'up' && flags.auth ? { auth: true } : {}),
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
}

function parsePort(value: string | undefined): number | undefined {
  const port = value === undefined ? undefined : Number(value);
  if (port !== undefined && (!Number.isInteger(port) || port < 1 || port > 65535)) {
    throw new RehearseError('USAGE', `--port expects a port number (1-65535), got '${value}'`, {
      hint: 'omit --port to use a free one',
    });
  }
  return port;
}
