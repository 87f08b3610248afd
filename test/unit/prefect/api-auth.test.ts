import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigSchema } from '../../../src/config/schema.js';
import { createPrefectApi, envAuthHeaders, splitApiUrl } from '../../../src/prefect/api.js';
import { createRedactor, MASK } from '../../../src/secrets/redact.js';
import { learningClient, prepareSecrets } from '../../../src/session-secrets.js';

const seen: { url: string; authorization?: string }[] = [];
let server: http.Server;
let port = 0;

beforeAll(async () => {
  server = http.createServer((req, res) => {
    seen.push({
      url: req.url ?? '',
      ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}),
    });
    res.setHeader('content-type', 'application/json');
    res.end('true');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

const basic = (auth: string): string => `Basic ${Buffer.from(auth).toString('base64')}`;

describe('splitApiUrl', () => {
  it('takes userinfo out of the URL as a basic-auth string, decoded', () => {
    expect(splitApiUrl('http://admin:p%40ss:w0rd@host:4200/api')).toEqual({
      url: 'http://host:4200/api',
      authString: 'admin:p@ss:w0rd',
    });
    expect(splitApiUrl('https://user@host/api')).toEqual({ url: 'https://host/api', authString: 'user:' });
  });

  it('leaves a URL without userinfo as it is (an @ in the path is not userinfo)', () => {
    expect(splitApiUrl('http://127.0.0.1:4200/api')).toEqual({ url: 'http://127.0.0.1:4200/api' });
    expect(splitApiUrl('http://host/api/x@y')).toEqual({ url: 'http://host/api/x@y' });
  });
});

describe('createPrefectApi authentication', () => {
  it('sends userinfo as basic auth to the URL without it, and never shows it', async () => {
    const api = createPrefectApi({ apiUrl: `http://admin:hunter2-pw@127.0.0.1:${port}/api`, timeoutMs: 5000 });
    const response = await api.request({ method: 'GET', path: '/health', readOnly: true });
    expect(response.status).toBe(200);
    expect(api.baseUrl).toBe(`http://127.0.0.1:${port}/api`);
    expect(response.url).not.toContain('hunter2-pw');
    expect(seen.at(-1)).toEqual({ url: '/api/health', authorization: basic('admin:hunter2-pw') });
  });

  it("honours PREFECT_API_AUTH_STRING as basic auth, before an API key (as Prefect 3.9's client does)", async () => {
    await createPrefectApi({
      apiUrl: `http://127.0.0.1:${port}/api`,
      authString: 'svc:from-env',
      timeoutMs: 5000,
    }).request({ method: 'GET', path: '/health', readOnly: true });
    expect(seen.at(-1)?.authorization).toBe(basic('svc:from-env'));
    await createPrefectApi({
      apiUrl: `http://127.0.0.1:${port}/api`,
      apiKey: 'pnu_key',
      authString: 'svc:from-env',
      timeoutMs: 5000,
    }).request({ method: 'GET', path: '/health', readOnly: true });
    expect(seen.at(-1)?.authorization).toBe(basic('svc:from-env'));
    await createPrefectApi({ apiUrl: `http://127.0.0.1:${port}/api`, apiKey: 'pnu_key', timeoutMs: 5000 }).request({
      method: 'GET',
      path: '/health',
      readOnly: true,
    });
    expect(seen.at(-1)?.authorization).toBe('Bearer pnu_key');
    expect(envAuthHeaders({ PREFECT_API_AUTH_STRING: 'a:b' })).toEqual({ authorization: basic('a:b') });
  });
});

describe('prepareSecrets', () => {
  const config = ConfigSchema.parse({});

  it('hands URL userinfo to Prefect children as PREFECT_API_AUTH_STRING and masks every form of it', () => {
    const env = { PREFECT_API_URL: 'http://admin:hunter2-pw@127.0.0.1:4200/api', HOME: '/home/qa' };
    const { redact, env: childEnv, authString } = prepareSecrets(env, config);
    expect(authString).toBe('admin:hunter2-pw');
    expect(childEnv.PREFECT_API_AUTH_STRING).toBe('admin:hunter2-pw');
    expect(env).not.toHaveProperty('PREFECT_API_AUTH_STRING');
    const text = `url ${env.PREFECT_API_URL} auth admin:hunter2-pw pass hunter2-pw`;
    expect(redact(text)).not.toMatch(/hunter2-pw|admin:/);
  });

  it('reads PREFECT_API_AUTH_STRING from the environment as the credentials', () => {
    const { authString, redact } = prepareSecrets(
      { PREFECT_API_URL: 'http://h/api', PREFECT_API_AUTH_STRING: 'svc:env-pass-1' },
      config,
    );
    expect(authString).toBe('svc:env-pass-1');
    expect(redact('svc:env-pass-1 env-pass-1')).not.toContain('env-pass-1');
  });

  it('learns config run.parameters secrets, nested', () => {
    const withParams = ConfigSchema.parse({ run: { parameters: { notify: { notify_token: 'nested-config-token' } } } });
    expect(prepareSecrets({}, withParams).redact('x nested-config-token')).toBe('x ***REDACTED***');
  });
});

describe('learningClient', () => {
  it('teaches the redactor every value the server holds under a secret-named key, before anyone prints it', async () => {
    const redact = createRedactor([]);
    const answer = JSON.stringify({ name: 'hotpass-backfill', parameters: { notify_token: 'server-default-token' } });
    const inner = {
      baseUrl: 'http://h/api',
      request: async (request: Parameters<ReturnType<typeof createPrefectApi>['request']>[0]) => ({
        request,
        url: 'http://h/api/x',
        status: 200,
        text: answer,
        startedAt: '',
        durationMs: 0,
      }),
    };
    expect(redact('└── Parameters: server-default-token')).toContain('server-default-token');
    const response = await learningClient(inner, redact).request({ method: 'GET', path: '/x', readOnly: true });
    expect(response.text).toBe(answer);
    expect(redact('└── Parameters: server-default-token')).toBe(`└── Parameters: ${MASK}`);
  });
});
