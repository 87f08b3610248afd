import type { Context } from '../../context.js';
import { RehearseError } from '../../errors.js';
import { type Command, formatCommand } from '../../process/command.js';

/**
 * Which render a rehearsal uses. Nothing here may register or change a deployment: a configured
 * render command runs only when declared read-only, the deploy command only with a --dry-run its own
 * --help lists, and otherwise rehearse renders the manifests itself.
 */
export type RenderPlan =
  | { kind: 'command'; command: Command; why: string }
  | { kind: 'manifests'; deployCommand: string[]; why: string };

/** The command words before the first flag: `uv run hotpass deploy` of `uv run hotpass deploy --flow x`. */
export function commandWords(argv: readonly string[]): string[] {
  const first = argv.findIndex((arg) => arg.startsWith('-'));
  return first < 0 ? [...argv] : argv.slice(0, first);
}

/** The options a --help text lists (`--dry-run`, `--no-upload`, ...). */
export function listedOptions(help: string): Set<string> {
  return new Set([...help.matchAll(/(?:^|[\s,[(|])(--[A-Za-z0-9][\w-]*)/g)].map((m) => m[1] as string));
}

function commandOf(ctx: Context, argv: readonly string[], readOnly: boolean): Command {
  const [file, ...args] = argv;
  return {
    file: file ?? 'uv',
    args,
    cwd: ctx.prefect.projectDir,
    env: ctx.prefect.env,
    readOnly,
    timeoutMs: ctx.config.timeouts.commandSeconds * 1000,
  };
}

function refuseUndeclared(command: readonly string[]): RehearseError {
  return new RehearseError('CONFIG_INVALID', `render.command \`${command.join(' ')}\` is not declared read-only`, {
    details: [
      'rehearse cannot tell whether it only renders or also registers deployments in staging,',
      'and a rehearsal must not change the deployment it rehearses',
    ],
    hint:
      'if it only renders and registers nothing, add `readOnly: true` next to render.command in rehearse.config; ' +
      'otherwise remove render.command (set render.deployCommand to your deploy command) and rehearse renders ' +
      'the manifests itself',
  });
}

/** Decides the render, asking the deploy command only for its --help (which applies nothing). */
export async function planRender(ctx: Context): Promise<RenderPlan> {
  const { command, readOnly, deployCommand } = ctx.config.render;
  if (command) {
    if (!readOnly) throw refuseUndeclared(command);
    const why = 'render.command, declared read-only in rehearse.config';
    return { kind: 'command', command: commandOf(ctx, command, true), why };
  }
  const words = commandWords(deployCommand);
  const helpCommand = commandOf(ctx, [...words, '--help'], true);
  const help = await ctx.runner.run(helpCommand);
  const shown = `\`${formatCommand(helpCommand)}\``;
  if (help.exitCode !== 0) {
    return {
      kind: 'manifests',
      deployCommand,
      why:
        `${shown} failed (exit ${help.exitCode ?? help.spawnError ?? 'none'}), so rehearse cannot tell whether ` +
        'it has a dry run: it renders the manifests itself and runs nothing that can register a deployment',
    };
  }
  const options = listedOptions(help.stdout + help.stderr);
  if (!options.has('--dry-run')) {
    return {
      kind: 'manifests',
      deployCommand,
      why:
        `${shown} lists no --dry-run: every call of the deploy command registers deployments, so rehearse renders ` +
        'the manifests itself and runs nothing that can register a deployment',
    };
  }
  const extra = ['--no-upload', '--dry-run'].filter((flag) => options.has(flag) && !deployCommand.includes(flag));
  return {
    kind: 'command',
    command: commandOf(ctx, [...deployCommand, ...extra], true),
    why: `${shown} lists --dry-run, so its dry run renders the specs and applies nothing`,
  };
}
