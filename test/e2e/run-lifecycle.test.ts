import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import fs from 'fs-extra';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sandboxProcessEnv } from '../../src/sandbox/state.js';
import { api, parseJson, prefect, rehearse, sandbox, workspace } from './support.js';

interface ServerRun {
  id: string;
  name: string;
  state_type: string | null;
  end_time: string | null;
  tags: string[];
}

const TERMINAL = ['COMPLETED', 'FAILED', 'CANCELLED', 'CRASHED'];
const runsTagged = (tag: string): Promise<ServerRun[]> =>
  api<ServerRun[]>('POST', '/flow_runs/filter', { flow_runs: { tags: { all_: [tag] } }, limit: 200 });
const countRuns = (): Promise<number> => api<number>('POST', '/flow_runs/count', {});
const tagOf = (bundle: string | undefined): string => `rehearse-${path.basename(bundle ?? '')}`;

/**
 * A forwarding proxy in front of the sandbox API that, after `createsBeforeStorm` creations,
 * answers 503 to everything for `stormMs` (a SQLite server under a write storm, or one restarting).
 */
async function startStormProxy(target: string, createsBeforeStorm: number, stormMs: number) {
  const upstream = new URL(target);
  const stats = { creates: 0, refused: 0, stormUntil: 0 };
  const server = http.createServer((req, res) => {
    if (Date.now() < stats.stormUntil) {
      stats.refused += 1;
      req.resume();
      res.writeHead(503, { 'content-type': 'application/json' });
      res.end('{"exception_message":"Service Unavailable"}');
      return;
    }
    const creating = req.method === 'POST' && /\/create_flow_run$/.test(req.url ?? '');
    const forward = http.request(
      {
        host: upstream.hostname,
        port: upstream.port,
        method: req.method,
        path: `${upstream.pathname.replace(/\/$/, '')}${(req.url ?? '').replace(/^\/api/, '')}`,
        headers: { ...req.headers, host: upstream.host },
      },
      (answer) => {
        if (creating && answer.statusCode && answer.statusCode < 300) {
          stats.creates += 1;
          if (stats.creates === createsBeforeStorm) stats.stormUntil = Date.now() + stormMs;
        }
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    forward.on('error', () => {
      res.writeHead(502);
      res.end();
    });
    req.pipe(forward);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api`;
  return { url, stats, close: () => new Promise((resolve) => server.close(resolve)) };
}

describe('the run step ends its runs with it, on the real sandbox', () => {
  let deploymentId: string;

  beforeAll(async () => {
    deploymentId = (await api<{ id: string }>('GET', '/deployments/name/hotpass-backfill/hotpass-backfill')).id;
  });

  it('refuses --burst above the maximum with exit 2 and creates no run', async () => {
    const cwd = await workspace();
    const before = await countRuns();
    const run = await rehearse(['run', '--sandbox', '--new-bundle', '--burst', '51', '--json'], { cwd });
    expect(run.exitCode, run.stdout + run.stderr).toBe(2);
    const out = parseJson(run);
    // Refused with the rest of the input, before a bundle exists: the reason is among the error's details.
    expect(JSON.stringify(out.error)).toContain('a burst of 51 runs is above the maximum of 50');
    expect(await fs.pathExists(path.join(cwd, 'dist'))).toBe(false);
    expect(await countRuns()).toBe(before);
  });

  describe('with the deployment turning excess runs away (CANCEL_NEW)', () => {
    let original: unknown;
    beforeAll(async () => {
      original = (await api<{ concurrency_options: unknown }>('GET', `/deployments/${deploymentId}`))
        .concurrency_options;
      await api('PATCH', `/deployments/${deploymentId}`, { concurrency_options: { collision_strategy: 'CANCEL_NEW' } });
      // The pool lets all 4 start, so the deployment's limit of 2 is what turns the excess away.
      await prefect(['work-pool', 'set-concurrency-limit', 'hotpass-backfill-pool', '4']);
    });
    afterAll(async () => {
      await api('PATCH', `/deployments/${deploymentId}`, {
        concurrency_options: original ?? { collision_strategy: 'ENQUEUE' },
      });
      await prefect(['work-pool', 'set-concurrency-limit', 'hotpass-backfill-pool', '2']);
    });

    it('a burst of 4 ends within seconds of its last run ending, not at the watch timeout', async () => {
      const cwd = await workspace();
      const started = Date.now();
      const args = [
        'run',
        '--sandbox',
        '--new-bundle',
        '--burst',
        '4',
        '--since',
        '2024-01-01',
        '--until',
        '2024-01-02',
        // Beyond the CLI call's own bound (600 s): had the run waited for its watch timeout, the call would fail.
        '--watch-timeout',
        '3600',
      ];
      const run = await rehearse([...args, '--param', 'day_seconds=6', '--json'], { cwd });
      const ended = Date.now();
      const out = parseJson(run);
      expect([0, 1], `${run.stderr}\n${JSON.stringify(out.error ?? out.summary?.checks)}`).toContain(run.exitCode);
      const runs = await runsTagged(tagOf(out.bundle));
      expect(runs).toHaveLength(4);
      expect(runs.every((r) => TERMINAL.includes(r.state_type ?? ''))).toBe(true);
      const turnedAway = runs.filter((r) => r.state_type === 'CANCELLED');
      expect(turnedAway.length).toBeGreaterThan(0);
      const primary = out.summary?.steps.find((s) => s.name === 'run')?.data?.primaryRunId;
      const lastEnd = Math.max(...runs.map((r) => Date.parse(r.end_time ?? '') || 0));
      const afterLastRun = (ended - lastEnd) / 1000;
      const took = ((ended - started) / 1000).toFixed(1);
      const watched = turnedAway.some((r) => r.id === primary)
        ? "the CLI's own run was turned away"
        : "the CLI's run ran";
      const after = afterLastRun.toFixed(1);
      console.log(`CANCEL_NEW burst of 4: took ${took} s, exited ${after} s after its last run ended; ${watched}`);
      expect(run.stderr).not.toContain('MaxListenersExceededWarning');
    });
  });

  it('a 503 storm mid-burst ends with exit 3 and none of the burst left unfinished on the server', async () => {
    const state = await sandbox();
    const proxy = await startStormProxy(state.apiUrl, 3, 8000);
    try {
      const cwd = await workspace();
      await fs.writeJson(path.join(cwd, 'rehearse.config.json'), { projectDir: state.projectDir });
      const run = await rehearse(
        ['run', '--new-bundle', '--burst', '10', '--since', '2024-01-01', '--until', '2024-01-02', '--json'],
        {
          cwd,
          env: { ...sandboxProcessEnv(state), PREFECT_API_URL: proxy.url, PREFECT_UI_API_URL: proxy.url },
        },
      );
      const out = parseJson(run);
      expect(run.exitCode, `${run.stderr}\n${JSON.stringify(out.error)}`).toBe(3);
      expect(proxy.stats.refused).toBeGreaterThan(0);
      const runs = await runsTagged(tagOf(out.bundle));
      const states = runs.map((r) => `${r.name} ${r.state_type}`).join(', ');
      const { creates, refused } = proxy.stats;
      console.log(`503 storm: ${creates} run(s) created, ${refused} request(s) refused; on the server: ${states}`);
      // Each creation made one run, however often it was resent, and every one of them is final.
      expect(runs).toHaveLength(proxy.stats.creates);
      expect(runs.filter((r) => !TERMINAL.includes(r.state_type ?? ''))).toEqual([]);
      const step = out.summary?.steps.find((s) => s.name === 'run');
      expect((step?.data?.flowRunIds as string[] | undefined)?.sort()).toEqual(runs.map((r) => r.id).sort());
      expect(await fs.readFile(path.join(cwd, out.bundle as string, 'created-runs.txt'), 'utf8')).toContain(
        runs[0]?.id ?? '?',
      );
    } finally {
      await proxy.close();
    }
  });
});
