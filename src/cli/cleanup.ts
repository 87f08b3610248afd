import type { Command } from 'commander';
import { RehearseError } from '../errors.js';
import { addExamples, addRehearsalOptions } from './options.js';
import type { CliRuntime, RehearsalFlags } from './runtime.js';

type CleanupFlags = RehearsalFlags & { all?: boolean; grace?: string };

export function defineCleanupCommand(program: Command, cli: CliRuntime): void {
  const command = program
    .command('cleanup')
    .description("cancel a rehearsal's leftover flow runs (found by its tag) and free the concurrency slots they hold");
  addRehearsalOptions(
    addExamples(
      command,
      'rehearse cleanup --sandbox --bundle dist/staging/backfill/20261126T011109Z',
      'rehearse cleanup --all --dry-run',
    ),
  )
    .option('--all', "every unfinished run tagged `rehearse` of the deployment, not one bundle's")
    .option(
      '--grace <seconds>',
      'how long a live worker gets to stop a started run before Cancelled is forced (default 20)',
    )
    .action(async (flags: CleanupFlags) => {
      await cli.execute(flags, 'cleanup', async (reporter) => {
        const grace = parseGrace(flags.grace);
        return (await import('../commands/cleanup.js')).cleanup(cli.session(flags, reporter), {
          all: Boolean(flags.all),
          ...(grace === undefined ? {} : { graceSeconds: grace }),
        });
      });
    });
}

function parseGrace(value: string | undefined): number | undefined {
  const grace = value === undefined ? undefined : Number(value);
  if (grace !== undefined && (!Number.isFinite(grace) || grace < 0))
    throw new RehearseError('USAGE', `--grace expects seconds (0 or more), got '${value}'`, {
      hint: 'e.g. --grace 10',
    });
  return grace;
}
