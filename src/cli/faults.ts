import type { Command } from 'commander';
import { describeFaults } from '../config/faults.js';
import { ExitCode } from '../errors.js';
import { addCommonOptions, addExamples } from './options.js';
import type { CliRuntime, CommonFlags } from './runtime.js';

/** `rehearse faults`: every fault kind and moment, as backfill's --help lists them. */
export function defineFaultsCommand(program: Command, cli: CliRuntime): void {
  const faults = program
    .command('faults')
    .description('list the faults a rehearsal can inject (--fault KIND[@MOMENT]) and the moments they bite at');
  addCommonOptions(addExamples(faults, 'rehearse backfill --sandbox --fault kill-flow')).action(
    async (flags: CommonFlags) => {
      await cli.execute(flags, 'faults', async () => ({
        command: 'faults',
        exitCode: ExitCode.ok,
        verdict: 'pass' as const,
        lines: describeFaults(),
      }));
    },
  );
}
