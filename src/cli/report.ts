import type { Command } from 'commander';
import { addCommonOptions, addExamples } from './options.js';
import type { CliRuntime, CommonFlags } from './runtime.js';

interface ReportFlags extends CommonFlags {
  compare?: string[];
  out?: string;
  evidenceRoot?: string;
  config?: string;
}

export function defineReportCommand(program: Command, cli: CliRuntime): void {
  const command = program
    .command('report')
    .argument('[bundle]', 'the bundle directory (default: the newest under the evidence root)')
    .description('write report.html and concurrency.svg into a bundle, from its files alone (offline)')
    .option('--compare <bundles...>', 'OLDER NEWER: two bundles side by side (HTML on stdout, or --out)')
    .option('--out <file>', 'write the HTML here instead (the bundle is left as it is)')
    .option('--evidence-root <dir>', 'where bundles are (default: evidenceRoot of rehearse.config)')
    .option('-c, --config <file>', 'config file (default: rehearse.config.json|yaml in the working directory)');
  addCommonOptions(
    addExamples(
      command,
      'rehearse report dist/staging/backfill/20261126T013217Z',
      'rehearse report --compare dist/staging/backfill/20261125T090000Z dist/staging/backfill/20261126T013217Z --out diff.html',
    ),
  ).action(async (bundle: string | undefined, flags: ReportFlags) => {
    await cli.execute(flags, 'report', async () =>
      (await import('../commands/report.js')).report({
        cwd: cli.io.cwd,
        ...(bundle ? { bundle } : {}),
        ...(flags.compare ? { compare: flags.compare } : {}),
        ...(flags.out ? { out: flags.out } : {}),
        ...(flags.evidenceRoot ? { evidenceRoot: flags.evidenceRoot } : {}),
        ...(flags.config ? { configFile: flags.config } : {}),
      }),
    );
  });
}
