import { Argument, type Command, type Option } from 'commander';
import { BASH_DRIVER, ZSH_DRIVER } from './completion-drivers.js';

const SHELLS = ['bash', 'zsh'] as const;
type Shell = (typeof SHELLS)[number];

/** What a word after an option (or a command's argument) completes to: a bundle, a directory, a file, given words. */
type ValueKind = 'bundle' | 'dir' | 'file' | 'value' | `words ${string}`;

interface CommandEntry {
  path: string;
  commands: string[];
  options: string[];
  /** Keyed by the option's flag ('--bundle', '-c'), and '' for the command's argument(s). */
  kinds: Map<string, ValueKind>;
}

const BUNDLE_NAME = /^bundles?$/;

/** Bundle directories are the option --bundle, a `<bundle>` placeholder, or an argument described as the bundle. */
function kindOf(name: string, description: string, choices: readonly string[] | undefined): ValueKind {
  if (choices?.length) return `words ${choices.join(' ')}`;
  if (BUNDLE_NAME.test(name) || /^the bundle directory/.test(description)) return 'bundle';
  if (name === 'dir') return 'dir';
  if (name === 'file') return 'file';
  return 'value';
}

function optionKind(option: Option): ValueKind | undefined {
  if (!option.required && !option.optional) return undefined;
  const placeholder = /[<[]([a-z-]+)/.exec(option.flags)?.[1] ?? '';
  const name = option.long === '--bundle' ? 'bundle' : placeholder;
  return kindOf(name, option.description, option.argChoices);
}

function argumentKind(command: Command): ValueKind | undefined {
  const [first] = command.registeredArguments as Argument[];
  return first ? kindOf(first.name(), first.description, first.argChoices) : undefined;
}

/** Every command of the program, from its commander definition: the same one `--help` describes. */
function entries(program: Command): CommandEntry[] {
  const out: CommandEntry[] = [];
  const visit = (command: Command, names: string[]): void => {
    const help = command.createHelp();
    const options = help.visibleOptions(command);
    const kinds = new Map<string, ValueKind>();
    for (const option of options) {
      const kind = optionKind(option);
      if (!kind) continue;
      for (const flag of [option.long, option.short]) if (flag) kinds.set(flag, kind);
    }
    const argument = argumentKind(command);
    if (argument) kinds.set('', argument);
    const subcommands = help.visibleCommands(command);
    out.push({
      path: names.join(' '),
      commands: subcommands.map((sub) => sub.name()),
      options: options.flatMap((option) => [option.long, option.short].filter((flag): flag is string => Boolean(flag))),
      kinds,
    });
    for (const sub of command.commands) visit(sub, [...names, sub.name()]);
  };
  visit(program, []);
  return out;
}

const quoted = (text: string): string => `'${text}'`;

/** A shell function of `case "$1" in 'path') echo '...';; esac`: plain POSIX, so bash and zsh share it. */
function caseFunction(name: string, comment: string, rows: [string, string][]): string {
  const lines = rows.filter(([, words]) => words).map(([key, words]) => `    ${quoted(key)}) echo ${quoted(words)} ;;`);
  return [`# ${comment}`, `${name}() {`, '  case "$1" in', ...lines, '  esac', '}'].join('\n');
}

/** The script `rehearse completion <shell>` prints, to be sourced: `source <(rehearse completion bash)`. */
function completionScript(program: Command, shell: Shell): string {
  const all = entries(program);
  const data = [
    caseFunction(
      '_rehearse_commands',
      'the subcommands of a command path',
      all.map((entry) => [entry.path, entry.commands.join(' ')]),
    ),
    caseFunction(
      '_rehearse_options',
      'the options of a command path',
      all.map((entry) => [entry.path, entry.options.join(' ')]),
    ),
    caseFunction(
      '_rehearse_value_kind',
      'what the value of "path:option" (or "path:" for its argument) completes to',
      all.flatMap((entry) => [...entry.kinds].map(([flag, kind]): [string, string] => [`${entry.path}:${flag}`, kind])),
    ),
  ];
  const header = `# rehearse completion for ${shell}, generated from its commands: source <(rehearse completion ${shell})`;
  return `${[header, ...data, shell === 'bash' ? BASH_DRIVER : ZSH_DRIVER].join('\n\n')}\n`;
}

export function defineCompletionCommand(program: Command): void {
  program
    .command('completion')
    .addArgument(new Argument('<shell>', 'the shell the script is for').choices(SHELLS))
    .description('print a completion script for bash or zsh: commands, options and bundle directories')
    .addHelpText(
      'after',
      '\nExample:\n  $ source <(rehearse completion bash)     # in ~/.bashrc\n  $ source <(rehearse completion zsh)      # in ~/.zshrc',
    )
    .action((shell: Shell) => {
      process.stdout.write(completionScript(program, shell));
    });
}
