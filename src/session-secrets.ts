import { noteMaskedPaths } from './bundle/secret-notes.js';
import type { Config } from './config/schema.js';
import { learningApi, type PrefectApi, splitApiUrl } from './prefect/api.js';
import { collectSecrets, createRedactor, learnSecretsIn, type SecretKeeper, secretsInUrl } from './secrets/redact.js';
import type { Stage } from './steps/runner.js';
import type { Step } from './steps/step.js';

export interface SessionSecrets {
  redact: SecretKeeper;
  /** The environment for the steps and Prefect's children: basic auth from the URL as PREFECT_API_AUTH_STRING. */
  env: NodeJS.ProcessEnv;
  /** user:pass for the API client, from the URL's userinfo or PREFECT_API_AUTH_STRING. */
  authString?: string;
  /** Where authString came from, as an operator would look for it (doctor names it). */
  authFrom?: string;
}

/**
 * One redactor for the whole command (the reporters' own, when the CLI made one): it knows the
 * environment's secrets, the parameters' and the API URL's credentials, and learns more as it goes.
 */
export function prepareSecrets(env: NodeJS.ProcessEnv, config: Config, redactor?: SecretKeeper): SessionSecrets {
  const redact = redactor ?? createRedactor([]);
  redact.learn(collectSecrets(env, [config.run.parameters]));
  const rawUrl = env.PREFECT_API_URL ?? config.prefect.apiUrl ?? '';
  redact.learn(secretsInUrl(rawUrl));
  const fromUrl = splitApiUrl(rawUrl).authString;
  const authString = fromUrl ?? env.PREFECT_API_AUTH_STRING;
  if (authString) redact.learn([authString, authString.slice(authString.indexOf(':') + 1)]);
  // Prefect's CLI reads the credentials from its inherited environment, so they are never displayed.
  const withAuth = fromUrl ? { ...env, PREFECT_API_AUTH_STRING: fromUrl } : env;
  const urlFrom = env.PREFECT_API_URL ? 'PREFECT_API_URL' : 'prefect.apiUrl in rehearse.config';
  const authFrom = fromUrl
    ? `the user:password in the userinfo of ${urlFrom}`
    : 'the basic-auth string in PREFECT_API_AUTH_STRING';
  return { redact, env: withAuth, ...(authString ? { authString, authFrom } : {}) };
}

/** An auth-enabled sandbox's own string, for the API client and every Prefect child alike; masked like any other. */
export function withSandboxAuth(secrets: SessionSecrets, sandboxAuth: string | undefined): SessionSecrets {
  if (!sandboxAuth) return secrets;
  secrets.redact.learn([sandboxAuth, sandboxAuth.slice(sandboxAuth.indexOf(':') + 1)]);
  return {
    ...secrets,
    env: { ...secrets.env, PREFECT_API_AUTH_STRING: sandboxAuth },
    authString: sandboxAuth,
    authFrom: "the sandbox's own basic-auth string (sandbox up --auth)",
  };
}

/** The API client whose answers teach the redactor, so a server-side secret is masked before it is printed. */
export const learningClient = (api: PrefectApi, redact: SecretKeeper): PrefectApi =>
  learningApi(api, (answer) => learnSecretsIn(redact, answer));

/** After each step, notes.md names the JSON paths masked so far in the bundle. */
function withMaskedNotes(step: Step): Step {
  return {
    ...step,
    async run(ctx, bundle, summary) {
      const output = await step.run(ctx, bundle, summary);
      const notes = await noteMaskedPaths(bundle, ctx.now());
      return notes && !output.files.includes(notes) ? { ...output, files: [...output.files, notes] } : output;
    },
  };
}

export const noteMaskedAfterEachStep = (stages: Stage[]): Stage[] =>
  stages.map((stage) => (Array.isArray(stage) ? stage.map(withMaskedNotes) : withMaskedNotes(stage)));
