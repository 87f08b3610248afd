import type { Command } from 'commander';
import { addCommonOptions, addExamples } from './options.js';
import type { CliRuntime, CommonFlags } from './runtime.js';

export function defineVerifyCommand(program: Command, cli: CliRuntime): void {
  const command = program
    .command('verify')
    .argument('<dir>', 'the bundle directory, or a copy of it')
    .description(
      're-check a bundle offline: every file present and matching SHA256SUMS, verdicts consistent with the evidence',
    );
  addCommonOptions(
    addExamples(
      command,
      'rehearse verify dist/staging/backfill/20261126T013217Z',
      'rehearse verify /mnt/evidence/staging/20261126T013217Z --key rehearse-signing.pub.pem --json',
    ),
  )
    .option('--key <file>', 'public key (PEM): the attestation must be signed by it and match every file')
    .action(async (dir: string, flags: CommonFlags & { key?: string }) => {
      await cli.execute(flags, 'verify', async () =>
        (await import('../commands/verify.js')).verify({
          dir,
          cwd: cli.io.cwd,
          ...(flags.key ? { key: flags.key } : {}),
        }),
      );
    });
}
