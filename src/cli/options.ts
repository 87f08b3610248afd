import type { Command } from 'commander';
import { RehearseError } from '../errors.js';
import { parseJsonOrString } from './reporter.js';
import type { RehearsalFlags } from './runtime.js';

export function addCommonOptions(command: Command): Command {
  return command
    .option('--json', 'print one JSON summary on stdout (progress goes to stderr)')
    .option('--junit <file>', 'write a JUnit report: one test case per step and per guardrail')
    .option('--github', 'write the GitHub job summary and annotations (automatic when GITHUB_ACTIONS=true)')
    .option('--ci', 'no prompts, no live progress, no colour (automatic when CI is set)')
    .option('--no-color', 'no colour (NO_COLOR is honoured too)');
}

export function addRehearsalOptions(command: Command): Command {
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
    .option('--dry-run', 'print every command it would run; run only read-only ones; write nothing')
    .option(
      '--signing-key <file>',
      "sign the bundle's attestation with this private key (PEM; default $REHEARSE_SIGNING_KEY_FILE)",
    );
}

/** The help text's closing examples, one `$ ` line each. */
export function addExamples(command: Command, ...examples: string[]): Command {
  return command.addHelpText('after', `\nExample:\n${examples.map((example) => `  $ ${example}`).join('\n')}`);
}

export const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

export interface RunFlags extends RehearsalFlags {
  since?: string;
  until?: string;
  workQueue?: string;
  burst?: string;
  param?: string[];
  watchTimeout?: string;
}

export function withRunOptions(command: Command): Command {
  return command
    .option('--since <date>', 'first day of the backfill window (YYYY-MM-DD; default 2024-01-01)')
    .option('--until <date>', 'last day of the backfill window (YYYY-MM-DD; default 2024-01-07)')
    .option('--work-queue <queue>', "target this work queue of the deployment's pool (created if missing)")
    .option('--burst <n>', 'submit n runs at once so the concurrency guardrail is exercised')
    .option('--param <key=value>', 'extra flow parameter (JSON value), repeatable', collect)
    .option('--watch-timeout <seconds>', 'give up watching after this long (default 900)');
}

export function withRunSelection(command: Command): Command {
  return command
    .option('--flow-run <id>', "flow run to look at instead of the bundle's (repeatable)", collect)
    .option('--all-runs', 'consider every run of the deployment, not only those of this rehearsal');
}

/** The run flags as config overrides; bad numbers and pairs are usage errors (exit 2). */
export function runOverrides(flags: RunFlags): Record<string, unknown> {
  const burst = parsePositiveInt('--burst', flags.burst);
  const watch = parsePositiveInt('--watch-timeout', flags.watchTimeout);
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
}

function parsePositiveInt(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1)
    throw new RehearseError('USAGE', `${flag} expects a whole number of at least 1, got '${value}'`, {
      hint: `e.g. ${flag} 3`,
    });
  return n;
}

function parseParams(pairs: string[] = []): Record<string, unknown> {
  return Object.fromEntries(
    pairs.map((pair) => {
      const eq = pair.indexOf('=');
      if (eq < 1)
        throw new RehearseError('USAGE', `--param expects key=value, got '${pair}'`, {
          hint: 'the value is read as JSON when it parses, e.g. --param day_seconds=2',
        });
      return [pair.slice(0, eq), parseJsonOrString(pair.slice(eq + 1))];
    }),
  );
}
