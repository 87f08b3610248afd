import { afterEach, describe, expect, it, vi } from 'vitest';
import { helpTexts, main } from '../../../src/cli.js';

afterEach(() => {
  vi.restoreAllMocks();
});

describe('rehearse faults', () => {
  it('lists every kind and moment, exit 0, as backfill --help does', async () => {
    const written: string[] = [];
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
      written.push(String(chunk));
      return true;
    });
    vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    const code = await main(['node', 'rehearse', 'faults'], { env: {}, cwd: process.cwd() });
    vi.restoreAllMocks();
    const out = written.join('');
    expect(code).toBe(0);
    for (const kind of [
      'cancel-run',
      'kill-flow',
      'kill-worker',
      'restart-api',
      'api-outage',
      'command',
      'first-running',
      'limit-reached',
    ]) {
      expect(out).toMatch(new RegExp(`^ {2}${kind} +\\S`, 'm'));
      expect(helpTexts().backfill).toContain(`  ${kind} `);
    }
  });
});
