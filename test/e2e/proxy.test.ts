import path from 'node:path';
import fs from 'fs-extra';
import { describe, expect, it } from 'vitest';
import { startProxy } from '../support/proxy.js';
import { parseJson, rehearse, sandbox, workspace } from './support.js';

/** Staging reached through an egress proxy: rehearse's own client and every Prefect CLI call go through it. */
describe('a rehearsal through an HTTP proxy', () => {
  it('passes, and the proxy carried both rehearse’s API calls and the Prefect CLI’s', async () => {
    const state = await sandbox();
    const proxy = await startProxy();
    try {
      const cwd = await workspace();
      const env = { HTTP_PROXY: proxy.url, HTTPS_PROXY: proxy.url, NO_PROXY: '', no_proxy: '' };
      const run = await rehearse(['backfill', '--sandbox', '--json'], { cwd, env });
      const out = parseJson(run);
      expect(run.exitCode, `${run.stderr}\n${JSON.stringify(out.summary?.checks, null, 1)}`).toBe(0);
      expect(out.summary).toMatchObject({ status: 'complete', verdict: 'pass' });
      expect(await fs.readFile(path.join(cwd, out.bundle as string, 'notes.md'), 'utf8')).not.toContain('markup');
      const host = `127.0.0.1:${state.port}`;
      // undici tunnels (CONNECT); Prefect's httpx client forwards absolute-form requests.
      expect(proxy.log.filter((line) => line === `CONNECT ${host}`).length).toBeGreaterThan(0);
      const cli = proxy.log.filter((line) => line.startsWith(`GET http://${host}/api/deployments/name/`));
      expect(cli.length, proxy.log.slice(0, 20).join('\n')).toBeGreaterThan(0);
      console.log(`proxy carried ${proxy.log.length} request(s); first: ${proxy.log.slice(0, 3).join(' | ')}`);
    } finally {
      await proxy.close();
    }
  });
});
