export const MASK = '***REDACTED***';

/** Words that mark a name as secret, matched as whole parts of the name (so PWD and XAUTHORITY stay readable). */
const SECRET_WORDS = new Set(['key', 'apikey', 'token', 'secret', 'password', 'passwd', 'pwd', 'passphrase', 'credential', 'credentials', 'auth', 'authorization', 'cookie']);
/** Run-together names such as SECRETKEY or signingkey. */
const SECRET_INSIDE = /(secret|token|passw|apikey|signingkey|privatekey|accesskey)/;
/** Names that look secret but hold no secret. */
const NOT_SECRET = /^(PWD|OLDPWD|concurrency_key|PREFECT_API_URL|AWS_REGION|AWS_DEFAULT_REGION|AWS_ENDPOINT_URL(_S3)?|.*_KEY_ID|SSH_AUTH_SOCK|.*_PATH|.*_FILE|.*_DIR|.*_URL)$/i;

function nameParts(name: string): string[] {
  return name.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toLowerCase().split(/[^a-z0-9]+/).filter(Boolean);
}

export function looksSecret(name: string): boolean {
  if (NOT_SECRET.test(name)) return false;
  return nameParts(name).some((part) => SECRET_WORDS.has(part) || SECRET_INSIDE.test(part));
}

/** Secret values found in the environment and in (nested) parameters, longest first. */
export function collectSecrets(env: NodeJS.ProcessEnv, parameters: Record<string, unknown>[] = []): string[] {
  const found = new Set<string>();
  for (const [name, value] of Object.entries(env)) {
    if (value && value.length >= 4 && looksSecret(name)) found.add(value);
    // A password inside a URL (postgres://user:pass@host) is a secret whatever the variable's name.
    const inUrl = value ? /^[a-z][a-z0-9+.-]*:\/\/[^/:@\s]+:([^@\s]{4,})@/i.exec(value) : null;
    if (inUrl?.[1]) found.add(inUrl[1]);
  }
  const walk = (value: unknown, name: string): void => {
    if (typeof value === 'string' && value.length >= 4 && looksSecret(name)) found.add(value);
    else if (Array.isArray(value)) value.forEach((item) => walk(item, name));
    else if (value && typeof value === 'object') for (const [key, inner] of Object.entries(value)) walk(inner, key);
  };
  parameters.forEach((params) => walk(params, ''));
  return [...found].sort((a, b) => b.length - a.length);
}

export type Redactor = (text: string) => string;

export function createRedactor(secrets: readonly string[]): Redactor {
  const pieces = secrets.filter((s) => s.length >= 4);
  if (pieces.length === 0) return (text) => text;
  // JSON-escaped forms too, so a secret with quotes or backslashes is caught inside JSON files.
  const forms = [...new Set(pieces.flatMap((s) => [s, JSON.stringify(s).slice(1, -1)]))].sort((a, b) => b.length - a.length);
  const pattern = new RegExp(forms.map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|'), 'g');
  return (text) => text.replace(pattern, MASK);
}
