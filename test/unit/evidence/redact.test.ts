import { describe, expect, it } from 'vitest';
import { collectSecrets, createRedactor, looksSecret, MASK } from '../../../src/evidence/redact.js';

const API_KEY = 'pnu_3f9a1c2b7d4e5f60718293a4b5c6d7e8f9a0';
const NOTIFY_TOKEN = 'xoxb-1111-2222-notify';

describe('looksSecret', () => {
  it.each(['PREFECT_API_KEY', 'AWS_SECRET_ACCESS_KEY', 'GITHUB_TOKEN', 'DB_PASSWORD', 'PGPASSWORD', 'notify_token', 'notifyToken', 'smtp_passwd', 'BASIC_AUTH'])('treats %s as secret', (name) => {
    expect(looksSecret(name)).toBe(true);
  });

  // PWD, OLDPWD, XAUTHORITY and GIT_AUTHOR_NAME are in every shell: masking them would mask paths and names in the evidence.
  it.each(['concurrency_key', 'PREFECT_API_URL', 'AWS_ACCESS_KEY_ID', 'AWS_REGION', 'SSH_AUTH_SOCK', 'TOKEN_FILE', 'archive_root', 'PWD', 'OLDPWD', 'XAUTHORITY', 'GIT_AUTHOR_NAME'])('does not treat %s as secret', (name) => {
    expect(looksSecret(name)).toBe(false);
  });
});

describe('collectSecrets', () => {
  it('takes secret-named values from the environment and skips the rest', () => {
    const secrets = collectSecrets({ PREFECT_API_KEY: API_KEY, PREFECT_API_URL: 'http://127.0.0.1:4200/api', AWS_ACCESS_KEY_ID: 'AKIAEXAMPLE', HOME: '/home/qa', PWD: '/work/main' });
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
  const redact = createRedactor(collectSecrets({ PREFECT_API_KEY: API_KEY }, [{ notify_token: NOTIFY_TOKEN, concurrency_key: 'hotpass-backfill' }]));

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
