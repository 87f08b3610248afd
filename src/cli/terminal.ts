/** The one place that decides whether rehearse runs under CI and whether it may use colour. */

export interface TerminalFlags {
  ci?: boolean;
  color?: boolean;
  json?: boolean;
  github?: boolean;
}

export function detectCi(flags: TerminalFlags, env: NodeJS.ProcessEnv): boolean {
  return Boolean(flags.ci) || Boolean(env.CI && env.CI !== 'false' && env.CI !== '0');
}

/** GitHub Actions sets GITHUB_ACTIONS=true; --github asks for its job summary and annotations anywhere. */
export function detectGithub(flags: TerminalFlags, env: NodeJS.ProcessEnv): boolean {
  return Boolean(flags.github) || env.GITHUB_ACTIONS === 'true';
}

export interface TerminalChoice {
  ci: boolean;
  stream: NodeJS.WriteStream;
  /** Errors always go to stderr, with a terminal or without, under CI or not. */
  errorStream: NodeJS.WriteStream;
  color: boolean;
  live: boolean;
}

/** With --json, progress moves to stderr so stdout carries only the JSON summary. */
export function chooseTerminal(flags: TerminalFlags, env: NodeJS.ProcessEnv): TerminalChoice {
  const ci = detectCi(flags, env);
  const stream = flags.json ? process.stderr : process.stdout;
  const tty = Boolean(stream.isTTY);
  return {
    ci,
    stream,
    errorStream: process.stderr,
    color: flags.color !== false && !env.NO_COLOR && !ci && tty,
    live: !ci && tty,
  };
}
