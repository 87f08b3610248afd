import { createRequire } from 'node:module';
import { Command, CommanderError } from 'commander';
import { defineAttestCommands } from './cli/attest.js';
import { defineCleanupCommand } from './cli/cleanup.js';
import { defineCompletionCommand } from './cli/completion.js';
import { defineFaultsCommand } from './cli/faults.js';
import { defineInitCommand } from './cli/init.js';
import { defineRehearsalCommands } from './cli/rehearsal.js';
import { defineReportCommand } from './cli/report.js';
import { type CliRuntime, createRuntime, type MainIo } from './cli/runtime.js';
import { defineSandboxCommands } from './cli/sandbox.js';
import { releaseHungUpTerminalAtExit } from './cli/signals.js';
import { defineVerifyCommand } from './cli/verify.js';
import { ExitCode, messageOf } from './errors.js';

const require = createRequire(import.meta.url);
const { version } = require('../package.json') as { version: string };

/**
 * Help is laid out at one width on every terminal, so the copy `npm run build` stores (dist/help.json, printed
 * by bin/rehearse.js without loading the CLI) is the very text commander would print.
 */
const HELP_WIDTH = 80;

function buildProgram(cli: CliRuntime): Command {
  const program = new Command('rehearse')
    .description('Rehearse the Prefect backfill guardrails in staging and file the evidence.')
    .version(version, '-V, --version')
    .showHelpAfterError('(run with --help for usage)')
    .configureHelp({ helpWidth: HELP_WIDTH })
    .exitOverride();
  defineRehearsalCommands(program, cli);
  defineFaultsCommand(program, cli);
  defineCleanupCommand(program, cli);
  defineInitCommand(program, cli);
  defineVerifyCommand(program, cli);
  defineAttestCommands(program, cli);
  defineReportCommand(program, cli);
  defineSandboxCommands(program, cli);
  defineCompletionCommand(program);
  return program;
}

/** Every command's `--help` text, keyed by its path ('' for rehearse itself, 'sandbox up' for a subcommand). */
export function helpTexts(): Record<string, string> {
  const texts: Record<string, string> = {};
  const visit = (command: Command, names: string[]): void => {
    const chunks: string[] = [];
    command.configureOutput({ writeOut: (chunk) => chunks.push(chunk) });
    command.outputHelp();
    texts[names.join(' ')] = chunks.join('');
    for (const sub of command.commands) visit(sub, [...names, sub.name()]);
  };
  visit(buildProgram(createRuntime({ env: {}, cwd: process.cwd() })), []);
  return texts;
}

/** Wires commands to their functions; the only place that turns results into an exit code. */
export async function main(argv: string[], io: MainIo = { env: process.env, cwd: process.cwd() }): Promise<number> {
  releaseHungUpTerminalAtExit();
  const cli = createRuntime(io);
  const program = buildProgram(cli);
  try {
    await program.parseAsync(argv);
  } catch (error) {
    return exitCodeOf(error, io.env);
  }
  return cli.exitCode();
}

const QUIET_EXITS = new Set(['commander.helpDisplayed', 'commander.version', 'commander.help']);

function exitCodeOf(error: unknown, env: NodeJS.ProcessEnv): number {
  if (error instanceof CommanderError) return QUIET_EXITS.has(error.code) ? ExitCode.ok : ExitCode.usage;
  process.stderr.write(`rehearse: internal error: ${messageOf(error)}\n`);
  if (env.REHEARSE_DEBUG) process.stderr.write(`${(error as Error).stack}\n`);
  else process.stderr.write('this is a bug in rehearse; rerun with REHEARSE_DEBUG=1 for details and report it\n');
  return ExitCode.couldNotRun;
}
