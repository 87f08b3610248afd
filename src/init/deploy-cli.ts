import type { Command, ProcessRunner } from '../process/command.js';

/** What a project's `<script> deploy --help` says it can do. */
export interface DeployCli {
  /** The argv prefix that runs the deploy command, e.g. [uv, run, hotpass, deploy]. */
  argv: string[];
  flags: string[];
  dryRun: boolean;
}

/** `uv run <script> deploy --help` (or the script itself without uv): read-only, under a deadline. */
function deployHelpCommand(script: string, projectDir: string, usesUv: boolean, timeoutMs: number): Command {
  const [file, ...args] = usesUv ? ['uv', 'run', script, 'deploy', '--help'] : [script, 'deploy', '--help'];
  return { file: file as string, args, cwd: projectDir, readOnly: true, timeoutMs };
}

/** Long options a help text lists, in order of first mention. */
function flagsOfHelp(text: string): string[] {
  const flags: string[] = [];
  for (const match of text.matchAll(/(?:^|[\s,[(])(--[a-z0-9][a-z0-9-]*)/gim)) {
    const flag = match[1] as string;
    if (flag !== '--help' && !flags.includes(flag)) flags.push(flag);
  }
  return flags;
}

/** The render step runs a deploy command only with the --dry-run its --help lists (src/steps/render/plan.ts). */
function hasDryRun(flags: string[]): boolean {
  return flags.includes('--dry-run');
}

/**
 * The first of the project's scripts whose `deploy --help` answers: the deploy CLI and its flags.
 * `tried` lists what each attempt said, for the report.
 */
export async function probeDeployCli(
  runner: ProcessRunner,
  options: { scripts: string[]; projectDir: string; usesUv: boolean; timeoutMs: number; signal?: AbortSignal },
): Promise<{ cli?: DeployCli; tried: string[] }> {
  const tried: string[] = [];
  for (const script of options.scripts.slice(0, 3)) {
    const command = deployHelpCommand(script, options.projectDir, options.usesUv, options.timeoutMs);
    const result = await runner.run(command, options.signal ? { signal: options.signal } : {});
    const argv = [command.file, ...command.args];
    if (result.exitCode !== 0) {
      const why =
        result.spawnError ??
        (result.timedOut ? `no answer within ${Math.round(options.timeoutMs / 1000)} s` : `exit ${result.exitCode}`);
      tried.push(`${argv.join(' ')}: ${why}`);
      continue;
    }
    const flags = flagsOfHelp(result.stdout + result.stderr);
    tried.push(`${argv.join(' ')}: ${flags.length} flag(s)`);
    return { cli: { argv: argv.slice(0, -1), flags, dryRun: hasDryRun(flags) }, tried };
  }
  return { tried };
}

/**
 * render.deployCommand: the deploy command as the project applies the backfill manifest. The render
 * step reads its --manifest-dir and --flow, and runs it only with a --dry-run its --help lists.
 */
export function deployCommandOf(cli: DeployCli, manifestDir: string | undefined, flowId: string | undefined): string[] {
  return [
    ...cli.argv,
    ...(manifestDir && cli.flags.includes('--manifest-dir') ? ['--manifest-dir', manifestDir] : []),
    ...(flowId && cli.flags.includes('--flow') ? ['--flow', flowId] : []),
  ];
}
