import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createPrefectApi } from '../../../src/prefect/api.js';

/** A server that answers 503 (a locked SQLite database) twice, then 201, counting what it was sent. */
describe('the API client resending after a 503', () => {
  let server: http.Server;
  let url: string;
  let received = 0;
  /** The pauses before each resend, recorded instead of waited. */
  let waits: number[] = [];
  const sleep = async (ms: number): Promise<void> => {
    waits.push(ms);
  };
  beforeAll(async () => {
    server = http.createServer((req, res) => {
      received += 1;
      req.resume();
      res.writeHead(received <= 2 ? 503 : 201, { 'content-type': 'application/json' });
      res.end(received <= 2 ? '{"exception_message":"Service Unavailable"}' : '{"id":"x"}');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api`;
  });
  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
  });
  beforeEach(() => {
    received = 0;
    waits = [];
  });

  it('resends a creation that carries an idempotency key until the server takes it', async () => {
    const api = createPrefectApi({ apiUrl: url, timeoutMs: 5000, sleep });
    const answer = await api.request({
      method: 'POST',
      path: '/deployments/d/create_flow_run',
      body: { idempotency_key: 'k-0' },
      readOnly: false,
      retrySafe: true,
    });
    expect([answer.status, received]).toEqual([201, 3]);
    expect(waits).toEqual([200, 400]);
  });

  it('never resends a POST that could create something twice', async () => {
    const api = createPrefectApi({ apiUrl: url, timeoutMs: 5000, sleep });
    const answer = await api.request({
      method: 'POST',
      path: '/deployments/d/create_flow_run',
      body: {},
      readOnly: false,
    });
    expect([answer.status, received]).toEqual([503, 1]);
    expect(waits).toEqual([]);
  });

  it('resends reads', async () => {
    const api = createPrefectApi({ apiUrl: url, timeoutMs: 5000, sleep });
    const answer = await api.request({ method: 'POST', path: '/flow_runs/filter', body: {}, readOnly: true });
    expect([answer.status, received]).toEqual([201, 3]);
    expect(waits).toEqual([200, 400]);
  });
});
