import { describe, expect, it } from 'vitest';
import {
  collectSecrets,
  createRedactor,
  findSecretValues,
  learnSecretsIn,
  looksSecret,
  MASK,
  maskJson,
  redactDocument,
} from '../../../src/secrets/redact.js';

const API_KEY = 'pnu_3f9a1c2b7d4e5f60718293a4b5c6d7e8f9a0';
const NOTIFY_TOKEN = 'xoxb-1111-2222-notify';

describe('looksSecret', () => {
  it.each([
    'PREFECT_API_KEY',
    'AWS_SECRET_ACCESS_KEY',
    'GITHUB_TOKEN',
    'DB_PASSWORD',
    'PGPASSWORD',
    'notify_token',
    'notifyToken',
    'smtp_passwd',
    'BASIC_AUTH',
  ])('treats %s as secret', (name) => {
    expect(looksSecret(name)).toBe(true);
  });

  // PWD, OLDPWD, XAUTHORITY and GIT_AUTHOR_NAME are in every shell: masking them would mask paths and names in the evidence.
  it.each([
    'concurrency_key',
    'PREFECT_API_URL',
    'AWS_ACCESS_KEY_ID',
    'AWS_REGION',
    'SSH_AUTH_SOCK',
    'TOKEN_FILE',
    'archive_root',
    'PWD',
    'OLDPWD',
    'XAUTHORITY',
    'GIT_AUTHOR_NAME',
  ])('does not treat %s as secret', (name) => {
    expect(looksSecret(name)).toBe(false);
  });
});

describe('collectSecrets', () => {
  it('takes secret-named values from the environment and skips the rest', () => {
    const secrets = collectSecrets({
      PREFECT_API_KEY: API_KEY,
      PREFECT_API_URL: 'http://127.0.0.1:4200/api',
      AWS_ACCESS_KEY_ID: 'AKIAEXAMPLE',
      HOME: '/home/qa',
      PWD: '/work/main',
    });
    expect(secrets).toEqual([API_KEY]);
  });

  it('ignores values too short to mask safely', () => {
    expect(collectSecrets({ GITHUB_TOKEN: 'abc' })).toEqual([]);
  });

  it('finds secrets nested in parameters, inside objects and arrays, by their own key', () => {
    const parameters = {
      concurrency_key: 'hotpass-backfill',
      notify: { notify_token: NOTIFY_TOKEN, channel: '#backfill' },
      sinks: [{ url: 'postgres://db', db_password: 'hunter2-db' }],
      parameters: { pipeline: { backfill: true } },
    };
    expect(collectSecrets({}, [parameters]).sort()).toEqual(['hunter2-db', NOTIFY_TOKEN].sort());
  });

  it('lists the longest secret first, so a secret containing another is masked whole', () => {
    const secrets = collectSecrets({ SHORT_TOKEN: 'abcd1234', LONG_TOKEN: 'abcd1234-and-more' });
    expect(secrets).toEqual(['abcd1234-and-more', 'abcd1234']);
    expect(createRedactor(secrets)('token=abcd1234-and-more')).toBe(`token=${MASK}`);
  });
});

describe('createRedactor', () => {
  const redact = createRedactor(
    collectSecrets({ PREFECT_API_KEY: API_KEY }, [{ notify_token: NOTIFY_TOKEN, concurrency_key: 'hotpass-backfill' }]),
  );

  it('masks every occurrence of each secret', () => {
    const text = `Authorization: Bearer ${API_KEY}\n--params {"notify_token": "${NOTIFY_TOKEN}"} again ${API_KEY}`;
    const out = redact(text);
    expect(out).not.toContain(API_KEY);
    expect(out).not.toContain(NOTIFY_TOKEN);
    expect(out.split(MASK)).toHaveLength(4);
  });

  it('leaves non-secrets such as the concurrency key untouched', () => {
    const text = '{"concurrency_key": "hotpass-backfill", "concurrency_limit": 2}';
    expect(redact(text)).toBe(text);
  });

  it('masks the JSON-escaped form of a secret with quotes and backslashes, keeping the JSON valid', () => {
    const secret = 'pa"ss\\word';
    const json = JSON.stringify({ db_password: secret, other: 'kept' });
    expect(json).not.toContain(secret);
    const out = createRedactor(collectSecrets({}, [{ db_password: secret }]))(json);
    expect(JSON.parse(out)).toEqual({ db_password: MASK, other: 'kept' });
  });

  it('passes text through when there are no secrets', () => {
    expect(createRedactor([])('PREFECT_API_KEY=x')).toBe('PREFECT_API_KEY=x');
  });
});

describe('looksSecret on key names in Prefect answers', () => {
  it.each([
    'token',
    'key',
    'apiKey',
    'authString',
    'PREFECT_API_AUTH_STRING',
    'clientSecret',
    'db_credentials',
    'x-auth',
  ])('treats %s as secret', (name) => {
    expect(looksSecret(name)).toBe(true);
  });
  it.each([
    'concurrencyKey',
    'idempotency_key',
    'cache_key',
    'task_key',
    'author',
    'AWS_ACCESS_KEY_ID',
    'token_count',
    'parameters',
    'work_pool_name',
  ])('keeps %s readable', (name) => {
    expect(looksSecret(name)).toBe(false);
  });
});

describe('findSecretValues and maskJson (masking by key name)', () => {
  const deployment = {
    name: 'hotpass-backfill',
    concurrency_key: 'hotpass-backfill',
    parameters: {
      notify_token: 'deploy-default-token',
      sinks: [{ dbPassword: 'pw-in-array' }],
      api_key: 12345,
      pipeline: { backfill: true },
    },
    job_variables: { env: { SLACK_TOKEN: 'xoxb-env-value', LOG_LEVEL: 'INFO' } },
    credentials: { user: 'svc', nested: ['a-long-secret'] },
    parameter_openapi_schema: {
      properties: {
        notify_token: { type: 'string', title: 'Notify Token', default: 'schema-default-secret', position: 2 },
        since: { type: 'string', title: 'since' },
      },
    },
  };

  it("finds values under secret-named keys at any depth, in arrays, camelCase, and a schema property's default only", () => {
    const paths = findSecretValues(deployment)
      .map((f) => f.path)
      .sort();
    expect(paths).toEqual([
      'credentials.nested[0]',
      'credentials.user',
      'job_variables.env.SLACK_TOKEN',
      'parameter_openapi_schema.properties.notify_token.default',
      'parameters.api_key',
      'parameters.notify_token',
      'parameters.sinks[0].dbPassword',
    ]);
  });

  it('masks them in a copy, keeps everything else as it was, and learns the strings for free text', () => {
    const redact = createRedactor([]);
    const { value, paths } = maskJson(deployment, redact);
    expect(paths).toHaveLength(7);
    expect(value.parameters.notify_token).toBe(MASK);
    expect(value.parameters.api_key).toBe(MASK);
    expect(value.parameters.sinks[0]?.dbPassword).toBe(MASK);
    expect(value.job_variables.env).toEqual({ SLACK_TOKEN: MASK, LOG_LEVEL: 'INFO' });
    expect(value.parameter_openapi_schema.properties.notify_token).toEqual({
      type: 'string',
      title: 'Notify Token',
      default: MASK,
      position: 2,
    });
    expect(value.concurrency_key).toBe('hotpass-backfill');
    expect(value.parameters.pipeline).toEqual({ backfill: true });
    expect(deployment.parameters.notify_token).toBe('deploy-default-token');
    // Learned: the value is now masked wherever it appears as free text, e.g. in a CLI's log.
    expect(redact('Parameters: {"notify_token": "deploy-default-token"}')).toBe(
      `Parameters: {"notify_token": "${MASK}"}`,
    );
    expect(redact('string Notify Token')).toBe('string Notify Token');
  });

  it('masks known values inside other strings too', () => {
    const redact = createRedactor(['planted-secret-1']);
    expect(maskJson({ display: 'run --params {"x": "planted-secret-1"}' }, redact).value).toEqual({
      display: `run --params {"x": "${MASK}"}`,
    });
  });

  it('learnSecretsIn teaches a redactor what a server answered', () => {
    const redact = createRedactor([]);
    learnSecretsIn(redact, [{ parameters: { notify_token: 'server-side-token' } }]);
    expect(redact('└── Parameters: server-side-token')).toBe(`└── Parameters: ${MASK}`);
  });
});

describe('redactDocument (evidence files)', () => {
  it('masks a JSON file by key name, keeping its layout and every other value', () => {
    const record = { id: 'x', parameters: { notify_token: 'ab', since: '2024-01-01' }, tags: ['rehearse'] };
    const text = `${JSON.stringify(record, null, 2)}\n`;
    const out = redactDocument(createRedactor([]), 'metadata.json', text);
    expect(out).toBe(
      `${JSON.stringify({ ...record, parameters: { notify_token: MASK, since: '2024-01-01' } }, null, 2)}\n`,
    );
  });

  it('leaves a JSON file byte for byte when nothing is secret, and masks other files by value only', () => {
    const text = '{"a":1,  "concurrency_key":"k"}';
    expect(redactDocument(createRedactor([]), 'x.json', text)).toBe(text);
    expect(redactDocument(createRedactor(['abcd1234']), 'run.log', 'notify_token=abcd1234 token=zz')).toBe(
      `notify_token=${MASK} token=zz`,
    );
  });
});

describe('secrets in URLs', () => {
  it('collects the password, user:pass and the whole URL, so no part of the userinfo prints', () => {
    const secrets = collectSecrets({ PREFECT_API_URL: 'http://admin:s3cr3t-pw@127.0.0.1:4200/api' });
    const redact = createRedactor(secrets);
    expect(redact('PREFECT_API_URL=http://admin:s3cr3t-pw@127.0.0.1:4200/api')).toBe(`PREFECT_API_URL=${MASK}`);
    expect(redact('auth admin:s3cr3t-pw')).toBe(`auth ${MASK}`);
  });
});
