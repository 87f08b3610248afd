import type { Command } from 'commander';
import { addCommonOptions, addExamples } from './options.js';
import type { CliRuntime, CommonFlags } from './runtime.js';

interface AttestFlags extends CommonFlags {
  signingKey?: string;
  config?: string;
  evidenceRoot?: string;
}

/** `rehearse attest` (sign a bundle) and `rehearse keygen` (a key pair to sign with). */
export function defineAttestCommands(program: Command, cli: CliRuntime): void {
  const attest = program
    .command('attest')
    .argument('[bundle]', 'the bundle directory (default: the newest under the evidence root)')
    .description("write the bundle's in-toto test-result statement, in a DSSE envelope signed with your key")
    .option('--signing-key <file>', 'Ed25519 or ECDSA P-256 private key, PEM (default $REHEARSE_SIGNING_KEY_FILE)')
    .option('-c, --config <file>', 'config file (default: rehearse.config.json|yaml in the working directory)')
    .option('--evidence-root <dir>', 'where bundles are (default: dist/staging/backfill)');
  addCommonOptions(
    addExamples(
      attest,
      'rehearse attest dist/staging/backfill/20261126T013217Z --signing-key ~/.config/rehearse/rehearse-signing.key.pem',
    ),
  ).action(async (dir: string | undefined, flags: AttestFlags) => {
    await cli.execute(flags, 'attest', async () =>
      (await import('../commands/attest.js')).attest({
        cwd: cli.io.cwd,
        env: cli.io.env,
        ...(dir ? { dir } : {}),
        ...(flags.signingKey ? { signingKey: flags.signingKey } : {}),
        ...(flags.config ? { configFile: flags.config } : {}),
        ...(flags.evidenceRoot ? { evidenceRoot: flags.evidenceRoot } : {}),
      }),
    );
  });

  const keygen = program
    .command('keygen')
    .description('write a key pair for signing attestations (the private key mode 0600, never printed)')
    .requiredOption('--out <dir>', 'directory for rehearse-signing.key.pem and rehearse-signing.pub.pem')
    .option('--type <type>', 'ed25519 or ecdsa-p256 (default ed25519)');
  addCommonOptions(addExamples(keygen, 'rehearse keygen --out ~/.config/rehearse --type ecdsa-p256')).action(
    async (flags: CommonFlags & { out: string; type?: string }) => {
      await cli.execute(flags, 'keygen', async () =>
        (await import('../commands/keygen.js')).keygen({
          cwd: cli.io.cwd,
          out: flags.out,
          ...(flags.type ? { type: flags.type } : {}),
        }),
      );
    },
  );
}
