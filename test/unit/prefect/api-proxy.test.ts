import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPrefectApi } from '../../../src/prefect/api.js';
import { startProxy, type TestProxy } from '../../support/proxy.js';

/** A server standing in for Prefect's /health, reached directly or through the test proxy. */
describe('the API client behind a proxy', () => {
  let server: http.Server;
  let apiUrl: string;
  let proxy: TestProxy;
  const seen: string[] = [];
  beforeAll(async () => {
    server = http.createServer((req, res) => {
      seen.push(`${req.url} ${req.headers.authorization ?? '-'}`);
      res.writeHead(200, { 'content-type': 'application/json' }).end('true');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    apiUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api`;
    proxy = await startProxy();
  });
  afterAll(async () => {
    await proxy.close();
    await new Promise((resolve) => server.close(resolve));
  });

  it('goes through HTTP_PROXY, auth header and all, and straight to the server without one', async () => {
    const through = createPrefectApi({ apiUrl, authString: 'u:p', timeoutMs: 5000, env: { HTTP_PROXY: proxy.url } });
    expect((await through.request({ method: 'GET', path: '/health', readOnly: true })).status).toBe(200);
    expect(proxy.log).toHaveLength(1);
    expect(proxy.log[0]).toContain(apiUrl.replace('http://', '').replace('/api', ''));
    expect(seen.at(-1)).toBe(`/api/health Basic ${Buffer.from('u:p').toString('base64')}`);

    const direct = createPrefectApi({ apiUrl, timeoutMs: 5000, env: {} });
    expect((await direct.request({ method: 'GET', path: '/health', readOnly: true })).status).toBe(200);
    expect(proxy.log).toHaveLength(1);
  });

  it('skips the proxy for a host NO_PROXY names', async () => {
    const before = proxy.log.length;
    const env = { HTTP_PROXY: proxy.url, NO_PROXY: '127.0.0.1' };
    const api = createPrefectApi({ apiUrl, timeoutMs: 5000, env });
    expect((await api.request({ method: 'GET', path: '/health', readOnly: true })).status).toBe(200);
    expect(proxy.log.length).toBe(before);
  });
});
