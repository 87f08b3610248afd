import type { Reporter } from '../reporters/events.js';
import type { SecretKeeper } from '../secrets/redact.js';
import { chooseTerminal, detectGithub, type TerminalFlags } from './terminal.js';

export interface ReporterFlags extends TerminalFlags {
  junit?: string;
  param?: string[];
}

/** Reporters load when a command runs, so --help and --version start as fast as commander allows. */
export async function makeReporter(
  flags: ReporterFlags,
  env: NodeJS.ProcessEnv,
  redact: SecretKeeper,
  cwd: string,
): Promise<Reporter> {
  const [{ createPrettyReporter }, { combineReporters }] = await Promise.all([
    import('../reporters/pretty.js'),
    import('../reporters/events.js'),
  ]);
  const { stream, errorStream, color, live } = chooseTerminal(flags, env);
  const reporters = [createPrettyReporter({ stream, errorStream, color, live, redact })];
  if (flags.json) reporters.push((await import('../reporters/json.js')).createJsonReporter(process.stdout, redact));
  if (flags.junit) reporters.push((await import('../reporters/junit.js')).createJunitReporter(flags.junit, redact));
  if (detectGithub(flags, env)) {
    const { createGithubReporter } = await import('../reporters/github.js');
    // Workflow commands are read from stdout only, which --json keeps for its one document: no annotations then.
    const options = { env, stdout: process.stdout, stderr: process.stderr, redact, cwd };
    reporters.push(createGithubReporter({ ...options, annotations: !flags.json }));
  }
  return combineReporters(reporters);
}

/** The one redactor of a command: every reporter and the session share it, so what one learns all mask. */
export async function makeRedactor(flags: ReporterFlags, env: NodeJS.ProcessEnv): Promise<SecretKeeper> {
  const { collectSecrets, createRedactor } = await import('../secrets/redact.js');
  // --param values named like secrets, as parsed JSON (a nested token) and as typed (digits parse as a number).
  const params = (flags.param ?? []).map((pair) => {
    const [key, raw] = [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)];
    return { [key]: parseJsonOrString(raw), [`${key}_as_typed`]: raw };
  });
  return createRedactor(collectSecrets(env, params));
}

/** A --param value is JSON when it parses, else the plain string. */
export function parseJsonOrString(raw: string): unknown {
  try {
    return JSON.parse(raw);
  } catch {
    return raw;
  }
}
