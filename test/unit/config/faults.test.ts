import os from 'node:os';
import path from 'node:path';
import fs from 'fs-extra';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load.js';

async function dirWith(config: unknown): Promise<string> {
  const cwd = await fs.mkdtemp(path.join(os.tmpdir(), 'rehearse-faults-config-'));
  await fs.writeJson(path.join(cwd, 'rehearse.config.json'), config);
  return cwd;
}

describe('faults: in the config', () => {
  it('reads the list with its defaults, and flags replace it whole', async () => {
    const cwd = await dirWith({
      faults: [{ kind: 'cancel-run' }, { kind: 'command', command: 'true', at: 'first-running' }],
    });
    const { config } = await loadConfig({ cwd });
    expect(config.faults).toEqual([
      { kind: 'cancel-run', at: 'limit-reached' },
      { kind: 'command', command: 'true', at: 'first-running', timeoutSeconds: 60 },
    ]);
    const flagged = await loadConfig({ cwd, overrides: { faults: [{ kind: 'cancel-run', at: 'first-running' }] } });
    expect(flagged.config.faults).toEqual([{ kind: 'cancel-run', at: 'first-running' }]);
    expect((await loadConfig({ cwd: await dirWith({}) })).config.faults).toEqual([]);
  });

  it('refuses an unknown kind or moment, naming the key (exit 2)', async () => {
    for (const fault of [{ kind: 'kill-everything' }, { kind: 'cancel-run', at: 'lunchtime' }]) {
      const load = loadConfig({ cwd: await dirWith({ faults: [fault] }) });
      await expect(load).rejects.toMatchObject({ code: 'CONFIG_INVALID', exitCode: 2 });
      await expect(load).rejects.toMatchObject({ details: [expect.stringMatching(/^faults\.0\./)] });
    }
  });
});
