export const MASK = '***REDACTED***';

/** Words that mark a name as secret, matched as whole parts of the name (so PWD and XAUTHORITY stay readable). */
const SECRET_WORDS = new Set([
  'key',
  'apikey',
  'token',
  'secret',
  'password',
  'passwd',
  'pwd',
  'passphrase',
  'credential',
  'credentials',
  'auth',
  'authorization',
  'cookie',
]);
/** Run-together names such as SECRETKEY or signingkey. */
const SECRET_INSIDE = /(secret|token|passw|apikey|signingkey|privatekey|accesskey)/;
/** Names that look secret but hold no secret, tested on the snake_case form of the name. */
const NOT_SECRET = new RegExp(
  '^(pwd|oldpwd|prefect_api_url|aws_region|aws_default_region|aws_endpoint_url(_s3)?|ssh_auth_sock' +
    '|(concurrency|idempotency|cache|task|dynamic|sort|partition|primary|foreign|dedupe|deduplication)_key' +
    '|.*_key_id|key_id|.*_path|.*_file|.*_dir|.*_url|.*_count|.*_type|.*_name)$',
);

function nameParts(name: string): string[] {
  return name
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter(Boolean);
}

/** Verdicts on names already seen: a state history asks about the same few keys for every run. */
const verdicts = new Map<string, boolean>();
const VERDICTS_KEPT = 10_000;

export function looksSecret(name: string): boolean {
  const known = verdicts.get(name);
  if (known !== undefined) return known;
  const parts = nameParts(name);
  const secret = !NOT_SECRET.test(parts.join('_')) && parts.some((p) => SECRET_WORDS.has(p) || SECRET_INSIDE.test(p));
  if (verdicts.size >= VERDICTS_KEPT) verdicts.clear();
  verdicts.set(name, secret);
  return secret;
}

/** The password of a URL such as postgres://user:pass@host (whatever the variable's name), and the whole URL. */
export function secretsInUrl(value: string): string[] {
  const match = /^[a-z][a-z0-9+.-]*:\/\/([^/:@\s]*):([^@\s/]+)@/i.exec(value);
  if (!match?.[2]) return [];
  const pass = match[2];
  return [value, `${match[1]}:${pass}`, pass, ...(pass.includes('%') ? [safeDecode(pass)] : [])];
}

const safeDecode = (text: string): string => {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
};

/** Secret values found in the environment and in (nested) parameters, longest first. */
export function collectSecrets(env: NodeJS.ProcessEnv, parameters: Record<string, unknown>[] = []): string[] {
  const found = new Set<string>();
  for (const [name, value] of Object.entries(env)) {
    if (!value) continue;
    if (value.length >= 4 && looksSecret(name)) found.add(value);
    secretsInUrl(value).forEach((s) => found.add(s));
  }
  for (const params of parameters) {
    for (const finding of findSecretValues(params)) if (typeof finding.value === 'string') found.add(finding.value);
  }
  return [...found].filter((s) => s.length >= 4).sort((a, b) => b.length - a.length);
}

export type Redactor = (text: string) => string;

/** A redactor that learns: a value met under a secret-named key is masked from then on, wherever it appears. */
export interface SecretKeeper extends Redactor {
  learn(values: Iterable<string>): void;
}

const escapeRegExp = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

export function createRedactor(secrets: readonly string[]): SecretKeeper {
  const known = new Set<string>();
  let pattern: RegExp | undefined;
  const redact = ((text: string) => (pattern ? text.replace(pattern, MASK) : text)) as SecretKeeper;
  redact.learn = (values) => {
    const before = known.size;
    for (const value of values) if (value.length >= 4) known.add(value);
    if (known.size === before) return;
    // JSON-escaped forms too, so a secret with quotes or backslashes is caught inside JSON files.
    const forms = [...new Set([...known].flatMap((s) => [s, JSON.stringify(s).slice(1, -1)]))].sort(
      (a, b) => b.length - a.length,
    );
    pattern = new RegExp(forms.map(escapeRegExp).join('|'), 'g');
  };
  redact.learn(secrets);
  return redact;
}

function learnInto(redact: Redactor, values: Iterable<string>): void {
  (redact as Partial<SecretKeeper>).learn?.(values);
}

export interface SecretFinding {
  /** e.g. `parameters.notify_token` or `[0].parameters.auth.user` */
  path: string;
  value: string | number;
}

/** Keys whose values are maps of JSON Schemas, keyed by property name: the names say what the default holds. */
const SCHEMA_MAPS = new Set(['properties', 'definitions', '$defs', 'patternProperties']);
/** Keys of a JSON Schema that hold values of the property (a default may be a real secret). */
const SCHEMA_VALUES = new Set(['default', 'examples', 'example', 'enum', 'const']);
const SCHEMA_NESTED = new Set(['items', 'anyOf', 'allOf', 'oneOf', 'additionalProperties', 'prefixItems']);

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);
const childPath = (path: string, key: string): string => (path ? `${path}.${key}` : key);

function walkValue(value: unknown, path: string, secret: boolean, out: SecretFinding[]): void {
  if (typeof value === 'string' || typeof value === 'number') {
    if (secret && value !== '') out.push({ path, value });
  } else if (Array.isArray(value)) {
    value.forEach((item, i) => walkValue(item, `${path}[${i}]`, secret, out));
  } else if (isObject(value)) {
    for (const [key, inner] of Object.entries(value)) {
      const at = childPath(path, key);
      if (!secret && SCHEMA_MAPS.has(key) && isObject(inner)) walkSchemaMap(inner, at, out);
      else walkValue(inner, at, secret || looksSecret(key), out);
    }
  }
}

function walkSchemaMap(map: Record<string, unknown>, path: string, out: SecretFinding[]): void {
  for (const [name, schema] of Object.entries(map)) walkSchema(schema, childPath(path, name), looksSecret(name), out);
}

function walkSchema(schema: unknown, path: string, secretProperty: boolean, out: SecretFinding[]): void {
  if (Array.isArray(schema)) {
    schema.forEach((item, i) => walkSchema(item, `${path}[${i}]`, secretProperty, out));
    return;
  }
  if (!isObject(schema)) {
    walkValue(schema, path, false, out);
    return;
  }
  for (const [key, inner] of Object.entries(schema)) {
    const at = childPath(path, key);
    if (SCHEMA_VALUES.has(key)) walkValue(inner, at, secretProperty, out);
    else if (SCHEMA_MAPS.has(key) && isObject(inner)) walkSchemaMap(inner, at, out);
    else if (SCHEMA_NESTED.has(key)) walkSchema(inner, at, secretProperty, out);
    else walkValue(inner, at, false, out);
  }
}

/**
 * Values held under secret-named keys, at any depth (everything under such a key is secret). In a JSON
 * Schema a property's name marks only its default and examples: the schema itself is not secret.
 */
export function findSecretValues(value: unknown): SecretFinding[] {
  const out: SecretFinding[] = [];
  walkValue(value, '', false, out);
  return out;
}

/** Strings only: a number under a secret-named key is masked where it stands, never hunted as digits in free text. */
const learnable = (findings: SecretFinding[]): string[] =>
  findings.flatMap((f) => (typeof f.value === 'string' ? [f.value] : []));

/** Remembers what the value holds under secret-named keys (for a redactor that learns), e.g. a server's answer. */
export function learnSecretsIn(redact: Redactor, value: unknown): void {
  const values = learnable(findSecretValues(value));
  if (values.length) learnInto(redact, values);
}

function replaceAt(value: unknown, secretPaths: Set<string>, path: string, redact: Redactor): unknown {
  if (secretPaths.has(path)) return MASK;
  if (typeof value === 'string') return redact(value);
  if (Array.isArray(value)) return value.map((item, i) => replaceAt(item, secretPaths, `${path}[${i}]`, redact));
  if (isObject(value)) {
    return Object.fromEntries(
      Object.entries(value).map(([key, inner]) => [
        redact(key),
        replaceAt(inner, secretPaths, childPath(path, key), redact),
      ]),
    );
  }
  return value;
}

/**
 * A copy of a JSON value with every value under a secret-named key replaced by the mask and every
 * known secret masked inside strings; the values found are learned, so free text masks them too.
 */
export function maskJson<T>(value: T, redact: Redactor): { value: T; paths: string[] } {
  const findings = findSecretValues(value);
  learnInto(redact, learnable(findings));
  const paths = findings.map((f) => f.path);
  return { value: replaceAt(value, new Set(paths), '', redact) as T, paths };
}

/**
 * The text of an evidence file, masked: a JSON document by key name and by value (layout kept when
 * nothing is masked by name, else re-indented as it was), any other text by value.
 */
export function redactDocument(redact: Redactor, name: string, text: string): string {
  if (!/\.json$/i.test(name)) return redact(text);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return redact(text);
  }
  const { value, paths } = maskJson(parsed, redact);
  if (paths.length === 0) return redact(text);
  const indent = /^\s*[[{]\r?\n([ \t]+)/.exec(text)?.[1];
  return `${JSON.stringify(value, null, indent)}${text.endsWith('\n') ? '\n' : ''}`;
}

/** Text of a JSON value as `JSON.stringify(value, null, 2)` writes it when nested `depth` levels deep. */
const nested = (value: unknown, depth: number): string =>
  (JSON.stringify(value, null, 2) ?? 'null').replaceAll('\n', `\n${'  '.repeat(depth)}`);

/** A top-level entry whose array is written element by element; any other entry is masked whole. */
const streamable = (key: string, value: unknown): value is unknown[] =>
  Array.isArray(value) && value.length > 0 && !looksSecret(key) && !SCHEMA_MAPS.has(key);

/**
 * The text `redactDocument` makes of `JSON.stringify(value, null, 2)` for a JSON evidence file, in
 * pieces: each top-level entry, and each element of a top-level array, on its own. A document of 100k
 * runs is then never one string, nor parsed back to be masked. The whole value is searched for
 * secret-named keys first and what they hold is learned, so a secret found late is masked in the
 * pieces before it too; a piece holding such a key is masked by path, any other by value.
 */
export function* maskedJsonChunks(value: unknown, redact: Redactor): Generator<string> {
  const findings = findSecretValues(value);
  learnInto(redact, learnable(findings));
  const isPlainObject = isObject(value) && typeof (value as { toJSON?: unknown }).toJSON !== 'function';
  const entries = isPlainObject
    ? Object.entries(value).filter(([, inner]) => inner !== undefined && typeof inner !== 'function')
    : [];
  // Each secret path under the piece it falls in: `[i]` of a top-level array, `key[j]` of a streamed
  // entry, `key` of any other entry, '' for the whole value.
  const byPiece = new Map<string, string[]>();
  for (const { path } of findings) {
    let at = '';
    if (Array.isArray(value)) at = /^\[\d+\]/.exec(path)?.[0] ?? '';
    else {
      const entry = entries.find(([key]) => path === key || path.startsWith(`${key}.`) || path.startsWith(`${key}[`));
      if (entry)
        at = streamable(entry[0], entry[1])
          ? `${entry[0]}${/^\[\d+\]/.exec(path.slice(entry[0].length))?.[0]}`
          : entry[0];
    }
    byPiece.set(at, [...(byPiece.get(at) ?? []), path]);
  }
  /** One piece's text, `at` its path in the whole value. */
  const piece = (inner: unknown, at: string, depth: number): string => {
    const inside = byPiece.get(at);
    if (!inside) return redact(nested(inner, depth));
    // Through JSON first, as the whole document would be: a Date becomes its string, undefined is dropped.
    const plain = JSON.parse(JSON.stringify(inner) ?? 'null');
    const relative = inside.map((p) => {
      const rest = p.slice(at.length);
      return at === '' && rest !== '' && !rest.startsWith('[') ? `$.${rest}` : `$${rest}`;
    });
    return nested(replaceAt(plain, new Set(relative), '$', redact), depth);
  };
  if (Array.isArray(value) && value.length > 0) {
    yield '[';
    for (const [i, item] of value.entries()) yield `${i ? ',' : ''}\n  ${piece(item, `[${i}]`, 1)}`;
    yield '\n]';
    return;
  }
  if (!isPlainObject || entries.length === 0) {
    yield piece(value, '', 0);
    return;
  }
  yield '{';
  for (const [i, [key, inner]] of entries.entries()) {
    const name = `${i ? ',' : ''}\n  ${redact(JSON.stringify(key))}: `;
    if (!streamable(key, inner)) {
      yield `${name}${piece(inner, key, 1)}`;
      continue;
    }
    yield `${name}[`;
    for (const [j, item] of inner.entries()) yield `${j ? ',' : ''}\n    ${piece(item, `${key}[${j}]`, 2)}`;
    yield '\n  ]';
  }
  yield '\n}';
}
