import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { newSummary } from '../../../../src/bundle/summary-io.js';
import type { ConfigInput } from '../../../../src/config/schema.js';
import type { Command } from '../../../../src/process/command.js';
import { runStep } from '../../../../src/steps/run/run.js';
import { runSteps } from '../../../../src/steps/runner.js';
import { createTestContext } from '../../../support/context.js';
import { createFakeApi, recorded, recordedDeployment, recordedRoutes } from '../../../support/fake-api.js';
import { createFakeRunner } from '../../../support/fake-runner.js';
import { LIMITED_BURST, recordedRuns } from '../../../support/recorded-runs.js';
import { createFakeClock } from '../../support/fake-clock.js';
import { useTempBundle } from '../../support/step-context.js';

const NOW = new Date('2026-11-26T01:20:00Z');
const SCHEMAS = JSON.parse(
  await readFile(new URL('../../../../fixtures/prefect/parameter-schemas/schemas.json', import.meta.url), 'utf8'),
) as Record<string, unknown>;

/** The recorded deployment, given the upstream flow's parameter schema and its manifest's defaults. */
function upstreamDeployment(schema: unknown): string {
  const deployment = recordedDeployment();
  deployment.parameter_openapi_schema = schema;
  deployment.parameters = {
    runs: [],
    archive_root: 'dist/input-archives',
    restore_root: 'dist/backfill',
    concurrency_limit: 2,
    concurrency_key: 'hotpass/backfill',
  };
  return JSON.stringify(deployment);
}

const temp = useTempBundle('rehearse-run-window-', NOW);

async function runAgainst(schema: unknown, config: ConfigInput) {
  const runner = createFakeRunner([
    {
      match: ['uv', 'run', 'prefect', 'deployment', 'run'],
      result: { exitCode: 0, stdout: recorded('deployment.run.stdout'), stderr: '' },
    },
  ]);
  const api = createFakeApi({
    ...recordedRoutes({ deploymentText: upstreamDeployment(schema) }),
    'POST /flow_runs/filter': { status: 200, text: JSON.stringify(recordedRuns(LIMITED_BURST)) },
  });
  const ctx = { ...createTestContext({ runner, api, now: () => NOW, config }), clock: createFakeClock() };
  const steps = [runStep({ defaultBurst: 'one', openPage: async () => undefined })];
  const outcome = await runSteps(ctx, temp.bundle, steps, newSummary(temp.bundle, NOW, {}), { wholeRehearsal: false });
  return { outcome, runner, ctx };
}

/** What the CLI was given as parameters: `--params -` and the JSON on its stdin. */
const paramsOf = (command: Command): unknown => {
  expect(command.args[command.args.indexOf('--params') + 1]).toBe('-');
  return JSON.parse(command.input ?? 'null');
};

describe('the run step sends the window as the deployment takes it', () => {
  it('a runs list, one entry per day, to the upstream-shaped deployment: no since/until', async () => {
    const { runner } = await runAgainst(SCHEMAS.upstream, {
      run: { burst: 1, since: '2024-01-01', until: '2024-01-02', window: { version: '7' } },
    });
    expect(runner.calls).toHaveLength(1);
    expect(paramsOf(runner.calls[0]!)).toEqual({
      runs: [
        { run_date: '2024-01-01', version: '7' },
        { run_date: '2024-01-02', version: '7' },
      ],
    });
  });

  it('exits 2 before triggering anything when the window cannot be mapped', async () => {
    const { outcome, runner } = await runAgainst(SCHEMAS.windowed, { run: { burst: 1 } });
    expect(runner.calls).toHaveLength(0);
    expect(outcome.error?.exitCode).toBe(2);
    expect(outcome.error?.message).toMatch(/cannot pass the window 2024-01-01\.\.2024-01-07/);
  });

  it('reports a dropped deployment default as an info line', async () => {
    const { ctx, runner } = await runAgainst(SCHEMAS.upstream, { run: { burst: 1, drop: ['concurrency_key'] } });
    expect(runner.calls).toHaveLength(1);
    expect(ctx.reporter.events.some((e) => e.type === 'info' && /run\.drop concurrency_key/.test(e.message))).toBe(
      true,
    );
  });
});
