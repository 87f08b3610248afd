import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createBundle } from '../../../src/bundle/bundle.js';
import { newSummary } from '../../../src/bundle/summary-io.js';
import { messageOf, RehearseError } from '../../../src/errors.js';
import { createPrefectApi, expectJson, type PrefectApi } from '../../../src/prefect/api.js';
import { preflightStep, runDoctor } from '../../../src/steps/doctor/doctor.js';
import { runSteps } from '../../../src/steps/runner.js';
import type { Step } from '../../../src/steps/step.js';
import { createTestContext } from '../../support/context.js';
import { createFakeApi, recordedRoutes } from '../../support/fake-api.js';
import { createFakeRunner, type FakeResult } from '../../support/fake-runner.js';

const NOW = new Date('2026-11-26T01:20:00Z');
const UV_VERSION = { exitCode: 0, stdout: 'uv 0.13.9 (x86_64-unknown-linux-gnu)\n', stderr: '' };

let cwd: string;
beforeEach(async () => {
  cwd = await mkdtemp(path.join(tmpdir(), 'rehearse-interrupted-'));
});
afterEach(async () => {
  await rm(cwd, { recursive: true, force: true });
});

describe('messageOf', () => {
  it('says what was thrown, whatever it was, and never "undefined"', () => {
    expect(messageOf(new Error('boom'))).toBe('boom');
    expect(messageOf('a string')).toBe('a string');
    expect(messageOf({ code: 'EIO' })).toBe('{"code":"EIO"}');
    expect(messageOf(undefined)).toBe('no reason given');
  });
});

describe('a request stopped by Ctrl-C', () => {
  let server: http.Server;
  let url: string;
  beforeEach(async () => {
    // A server that takes the request and never answers: only the abort ends it.
    server = http.createServer(() => {});
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api`;
  });
  afterEach(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it('is an interruption, with no advice about PREFECT_API_URL', async () => {
    const api = createPrefectApi({ apiUrl: url, timeoutMs: 60_000 });
    const controller = new AbortController();
    const pending = api.request({ method: 'GET', path: '/health', readOnly: true }, { signal: controller.signal });
    setTimeout(() => controller.abort(new RehearseError('INTERRUPTED', 'interrupted by SIGINT')), 50);
    const response = await pending;
    expect(response.interrupted).toBe(true);
    let thrown: unknown;
    try {
      expectJson(response, 'reading the deployment');
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(RehearseError);
    const error = thrown as RehearseError;
    expect([error.code, error.message, error.hint]).toEqual([
      'INTERRUPTED',
      'interrupted while reading the deployment',
      undefined,
    ]);
  });
});

/** An API as the real client answers once rehearse's signal has fired: nothing reaches the server. */
function interruptibleApi(): PrefectApi {
  const fake = createFakeApi({ ...recordedRoutes(), 'POST /flow_runs/filter': { status: 200, text: '[]' } });
  return {
    baseUrl: fake.baseUrl,
    async request(request, options) {
      if (!options?.signal?.aborted) return fake.request(request, options);
      return {
        request,
        url: `${fake.baseUrl}${request.path}`,
        status: 0,
        text: '',
        startedAt: NOW.toISOString(),
        durationMs: 0,
        networkError: 'interrupted by SIGINT',
      };
    },
  };
}

describe('the preflight interrupted by Ctrl-C', () => {
  it('records the interruption, not an API that did not answer nor a tool that failed with "undefined"', async () => {
    const controller = new AbortController();
    // Ctrl-C arrives while `uv pip show prefect` runs: it ends cancelled, having printed nothing.
    const cancelled: FakeResult = { exitCode: null, stdout: '', stderr: '', cancelled: true };
    const runner = createFakeRunner([
      { match: ['uv', '--version'], result: UV_VERSION },
      {
        match: (command) => {
          if (command.args.includes('prefect'))
            controller.abort(new RehearseError('INTERRUPTED', 'interrupted by SIGINT'));
          return command.args.includes('prefect');
        },
        result: cancelled,
      },
    ]);
    const base = createTestContext({ runner, api: interruptibleApi(), now: () => NOW, cwd });
    const ctx = { ...base, signal: controller.signal };
    const bundle = await createBundle(path.join(cwd, 'bundles'), NOW, (text) => text);
    const outcome = await runSteps(ctx, bundle, [preflightStep], newSummary(bundle, NOW, {}), {
      wholeRehearsal: false,
    });
    expect(outcome.interrupted).toBe(true);
    expect(outcome.error?.code).toBe('INTERRUPTED');
    expect(outcome.error?.hint).toBeUndefined();
    const checks = base.reporter.events.filter((e) => e.type === 'check');
    const said = JSON.stringify([checks, outcome.summary.steps.map((s) => s.error)]);
    expect(said).not.toContain('PREFECT_API_URL');
    expect(said).not.toContain('undefined');
    expect(outcome.summary.steps[0]?.error?.code).toBe('INTERRUPTED');
  });

  it('names why the prefect CLI failed when it printed nothing (killed), never "undefined"', async () => {
    const killed: FakeResult = { exitCode: null, stdout: '', stderr: '', signal: 'SIGKILL' };
    const runner = createFakeRunner([
      { match: ['uv', '--version'], result: UV_VERSION },
      { match: (command) => command.args.includes('prefect'), result: killed },
    ]);
    const ctx = createTestContext({ runner, api: interruptibleApi(), now: () => NOW, cwd });
    const checks = await runDoctor(ctx);
    const prefect = checks.find((c) => c.id === 'tools.prefect');
    expect(prefect?.verdict).toBe('fail');
    expect(prefect?.reason).toContain('was killed by SIGKILL');
    expect(prefect?.reason).not.toContain('undefined');
  });
});

describe('a step that fails once rehearse is interrupted', () => {
  it('is recorded as interrupted, not with the error the interruption caused', async () => {
    const controller = new AbortController();
    // What inspect throws when its request is cut short by Ctrl-C on a client that does not know better.
    const inspect: Step = {
      name: 'inspect',
      title: 'inspect guardrails',
      async run() {
        controller.abort(new RehearseError('INTERRUPTED', 'interrupted by SIGINT'));
        throw new RehearseError('API_UNREACHABLE', 'the Prefect API did not answer (interrupted by SIGINT)', {
          hint: 'check PREFECT_API_URL',
        });
      },
    };
    const base = createTestContext({ runner: createFakeRunner([]), api: interruptibleApi(), now: () => NOW, cwd });
    const bundle = await createBundle(path.join(cwd, 'bundles'), NOW, (text) => text);
    const outcome = await runSteps(
      { ...base, signal: controller.signal },
      bundle,
      [inspect],
      newSummary(bundle, NOW, {}),
      {
        wholeRehearsal: false,
      },
    );
    expect([outcome.error?.code, outcome.error?.message, outcome.error?.hint]).toEqual([
      'INTERRUPTED',
      'interrupted during inspect',
      undefined,
    ]);
    expect(outcome.summary.steps[0]?.error).toEqual({ code: 'INTERRUPTED', message: 'interrupted during inspect' });
  });
});
