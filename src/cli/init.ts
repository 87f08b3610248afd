import type { Command } from 'commander';
import { addCommonOptions, addExamples } from './options.js';
import type { CliRuntime, CommonFlags } from './runtime.js';

type InitFlags = CommonFlags & {
  projectDir?: string;
  deployment?: string;
  sandbox?: boolean;
  stdout?: boolean;
  force?: boolean;
};

export function defineInitCommand(program: Command, cli: CliRuntime): void {
  const command = program
    .command('init')
    .description(
      'in a project checkout, write a commented rehearse.config.yaml from its manifests, deploy CLI and live deployment',
    )
    .option('--project-dir <dir>', 'the project checkout (default: .)')
    .option('--deployment <name>', "deployment to read from the server (default: the manifest's name)")
    .option('--sandbox', 'read the deployment from the running sandbox instead of PREFECT_API_URL')
    .option('--stdout', 'print the file instead of writing it')
    .option('--dry-run', 'the same as --stdout')
    .option('--force', 'when a config exists, write rehearse.config.yaml.new beside it instead of refusing');
  addCommonOptions(
    addExamples(
      command,
      'cd hotpass && PREFECT_API_URL=https://staging/api rehearse init',
      'rehearse init --sandbox --stdout',
    ),
  ).action(async (flags: InitFlags) => {
    await cli.execute(flags, 'init', async (reporter) =>
      (await import('../commands/init.js')).init({
        cwd: cli.io.cwd,
        env: cli.io.env,
        reporter,
        signal: cli.signal,
        sandbox: Boolean(flags.sandbox),
        print: Boolean(flags.stdout || flags.dryRun),
        force: Boolean(flags.force),
        ...(flags.projectDir ? { projectDir: flags.projectDir } : {}),
        ...(flags.deployment ? { deployment: flags.deployment } : {}),
      }),
    );
  });
}
