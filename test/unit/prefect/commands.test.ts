import { describe, expect, it } from 'vitest';
import { type PrefectCli, prefectEnv, runDeploymentCommand } from '../../../src/prefect/commands.js';
import { formatCommand } from '../../../src/process/command.js';
import { collectSecrets, createRedactor, MASK } from '../../../src/secrets/redact.js';
import { createTestContext } from '../../support/context.js';
import { createFakeApi } from '../../support/fake-api.js';
import { createFakeRunner } from '../../support/fake-runner.js';

const TOKEN = 'planted-notify-token-3f1e';
const PASSWORD = 'planted-db-password-88c2';
/** A window, a secret-named parameter and a secret nested under a plain name, as `--param` and the config give them. */
const PARAMETERS = { since: '2024-01-01', notify_token: TOKEN, db: { host: 'db.local', password: PASSWORD } };

const cli: PrefectCli = {
  base: ['uv', 'run', 'prefect'],
  target: {
    apiUrl: 'http://127.0.0.1:4200/api',
    env: prefectEnv('http://127.0.0.1:4200/api'),
    projectDir: '/p',
    sandbox: false,
  },
  timeoutMs: 60_000,
};

describe('runDeploymentCommand', () => {
  const command = runDeploymentCommand(cli, 'hotpass-backfill/hotpass-backfill', PARAMETERS, 600, ['rehearse']);

  it('hands the parameters to the CLI on stdin (`--params -`), never in its argument list', () => {
    expect(command.args).toEqual([
      'run',
      'prefect',
      'deployment',
      'run',
      'hotpass-backfill/hotpass-backfill',
      '--params',
      '-',
      '--watch',
      '--watch-timeout',
      '600',
      '--tag',
      'rehearse',
    ]);
    expect(JSON.parse(command.input ?? 'null')).toEqual(PARAMETERS);
    // Not a single parameter value: the window's dates are no secret, but the rule is one for all.
    expect([command.file, ...command.args].join(' ')).not.toMatch(/2024-01-01|planted/);
  });

  it('is shown as an operator would type it, the parameters as a here-string', () => {
    expect(formatCommand(command)).toBe(
      `uv run prefect deployment run hotpass-backfill/hotpass-backfill --params - --watch --watch-timeout 600 --tag rehearse <<< '${JSON.stringify(PARAMETERS)}'`,
    );
  });

  it('is printed and recorded with its input masked', async () => {
    const redact = createRedactor(collectSecrets({}, [PARAMETERS]));
    const runner = createFakeRunner([]);
    const ctx = createTestContext({ runner, api: createFakeApi({}), redact, flags: { dryRun: true } });
    await ctx.runner.run(command);
    const [record] = ctx.journal;
    expect(record?.input).toBe(
      JSON.stringify({ ...PARAMETERS, notify_token: MASK, db: { host: 'db.local', password: MASK } }),
    );
    expect(record?.display).toContain(`--params - --watch`);
    expect(record?.display).toContain(`<<< '{"since":"2024-01-01","notify_token":"${MASK}"`);
    const shown = JSON.stringify([record, ctx.reporter.events]);
    expect(shown).not.toContain(TOKEN);
    expect(shown).not.toContain(PASSWORD);
  });
});
