import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { type ConfigInput, ConfigSchema } from '../../../src/config/schema.js';
import { RehearseError } from '../../../src/errors.js';
import { describeParameters, parameterNames, readParameterSchema } from '../../../src/prefect/parameter-schema.js';
import { buildWindowParameters, daysOf, type WindowInput } from '../../../src/prefect/parameters.js';
import { recordedDeployment } from '../../support/fake-api.js';

/** Schemas written by Prefect's own parameter_schema (fixtures/prefect/parameter-schemas/generate.py). */
const SCHEMAS = JSON.parse(
  readFileSync(new URL('../../../fixtures/prefect/parameter-schemas/schemas.json', import.meta.url), 'utf8'),
) as Record<string, unknown>;
const RECORDED = recordedDeployment();
/** The upstream manifest's parameters: what its deploy command stores on the deployment. */
const UPSTREAM_DEFAULTS = {
  runs: [],
  archive_root: 'dist/input-archives',
  restore_root: 'dist/backfill',
  archive_pattern: 'hotpass-inputs-{date:%Y%m%d}-v{version}.zip',
  base_config: { pipeline: { dist_dir: 'dist', archive: false } },
  parameters: { pipeline: { backfill: true, incremental: false, since: null } },
  concurrency_limit: 2,
  concurrency_key: 'hotpass/backfill',
};

function input(
  schema: unknown,
  run: ConfigInput['run'] = {},
  deploymentParameters: Record<string, unknown> = UPSTREAM_DEFAULTS,
): WindowInput {
  const config = ConfigSchema.parse({ run: { since: '2024-01-01', until: '2024-01-03', ...run } }).run;
  return {
    deploymentName: 'hotpass-backfill',
    parameterSchema: schema,
    deploymentParameters,
    since: config.since,
    until: config.until,
    window: config.window,
    extra: config.parameters,
    drop: config.drop,
  };
}

function failure(make: () => unknown): RehearseError {
  try {
    make();
  } catch (error) {
    if (error instanceof RehearseError) return error;
    throw error;
  }
  throw new Error('expected a RehearseError');
}

const RUNS = (version: string) => ['2024-01-01', '2024-01-02', '2024-01-03'].map((day) => ({ run_date: day, version }));

describe("the window, mapped from the deployment's parameter schema", () => {
  it('passes since/until to a flow that takes them (the recorded runbook deployment)', () => {
    const mapped = buildWindowParameters(
      input(RECORDED.parameter_openapi_schema, { parameters: { day_seconds: 2 } }, RECORDED.parameters),
    );
    expect(mapped).toEqual({
      mode: 'since-until',
      parameters: { since: '2024-01-01', until: '2024-01-03', day_seconds: 2 },
      notes: [],
    });
  });

  it('sends one {run_date, version} per day to the upstream flow, and no since/until', () => {
    const mapped = buildWindowParameters(input(SCHEMAS.upstream));
    expect(mapped.mode).toBe('runs');
    expect(mapped.parameters).toEqual({ runs: RUNS('latest') });
  });

  it('takes the version from run.window.version', () => {
    expect(buildWindowParameters(input(SCHEMAS.upstream, { window: { version: '3' } })).parameters).toEqual({
      runs: RUNS('3'),
    });
  });

  it('follows $ref and anyOf to a pydantic model, using its version default when none is configured', () => {
    expect(buildWindowParameters(input(SCHEMAS.modelled, {}, {})).parameters).toEqual({ runs: RUNS('v1') });
  });

  it('leaves version out when the model has no such field, and says so if one was configured', () => {
    const mapped = buildWindowParameters(input(SCHEMAS.day_only, { window: { version: '2' } }, {}));
    expect(mapped.parameters).toEqual({
      runs: ['2024-01-01', '2024-01-02', '2024-01-03'].map((run_date) => ({ run_date })),
    });
    expect(mapped.notes).toEqual([expect.stringMatching(/run\.window\.version is not sent/)]);
  });

  it('fills a template: {since}/{until} in place, an item with {date} once per day', () => {
    const mapped = buildWindowParameters(
      input(SCHEMAS.upstream, {
        window: {
          mode: 'template',
          parameters: {
            runs: [{ run_date: '{date}', version: 'v2' }],
            parameters: { pipeline: { backfill: true, since: '{since}T00:00:00Z' } },
            archive_pattern: 'in-{date:%Y%m%d}-{until}.zip',
          },
        },
      }),
    );
    expect(mapped.mode).toBe('template');
    expect(mapped.parameters).toEqual({
      runs: RUNS('v2'),
      parameters: { pipeline: { backfill: true, since: '2024-01-01T00:00:00Z' } },
      archive_pattern: 'in-{date:%Y%m%d}-2024-01-03.zip',
    });
  });

  it('maps a window onto differently named parameters with a template', () => {
    const mapped = buildWindowParameters(
      input(
        SCHEMAS.windowed,
        { window: { mode: 'template', parameters: { start_date: '{since}', end_date: '{until}' } } },
        {},
      ),
    );
    expect(mapped.parameters).toEqual({ start_date: '2024-01-01', end_date: '2024-01-03' });
  });

  it('refuses {date} outside a list', () => {
    const error = failure(() =>
      buildWindowParameters(
        input(
          SCHEMAS.windowed,
          { window: { mode: 'template', parameters: { start_date: '{date}', end_date: '{until}' } } },
          {},
        ),
      ),
    );
    expect(error.message).toMatch(/run\.window\.parameters\.parameters\.start_date uses \{date\} outside a list/);
    expect(error.exitCode).toBe(2);
  });

  it('drops any parameter: a window one, a run.parameters one', () => {
    const mapped = buildWindowParameters(
      input(
        RECORDED.parameter_openapi_schema,
        { parameters: { day_seconds: 2, notify_token: 'x' }, drop: ['until', 'notify_token'] },
        RECORDED.parameters,
      ),
    );
    expect(mapped.parameters).toEqual({ since: '2024-01-01', day_seconds: 2 });
  });

  it('says when a dropped parameter is a default the server merges back', () => {
    const mapped = buildWindowParameters(input(SCHEMAS.upstream, { drop: ['concurrency_key'] }));
    expect(mapped.parameters).toEqual({ runs: RUNS('latest') });
    expect(mapped.notes).toEqual([expect.stringMatching(/run\.drop concurrency_key: the deployment stores a default/)]);
  });

  it('sends no window with mode none', () => {
    expect(buildWindowParameters(input(SCHEMAS.upstream, { window: { mode: 'none' } })).parameters).toEqual({});
  });

  it('keeps since/until when the deployment carries no schema (nothing to check against)', () => {
    for (const schema of [null, { title: 'Parameters', type: 'object', properties: {} }]) {
      const mapped = buildWindowParameters(input(schema, { parameters: { anything: 1 } }, {}));
      expect(mapped.parameters).toEqual({ since: '2024-01-01', until: '2024-01-03', anything: 1 });
      expect(mapped.notes).toEqual([
        'deployment hotpass-backfill lists no parameter schema: the parameters are sent unchecked',
      ]);
    }
  });
});

describe('windows that cannot be mapped: exit 2, with what the flow accepts and the config that fixes it', () => {
  it('a flow with neither since/until nor runs', () => {
    const error = failure(() => buildWindowParameters(input(SCHEMAS.windowed, {}, {})));
    expect(error.exitCode).toBe(2);
    expect(error.message).toBe(
      'cannot pass the window 2024-01-01..2024-01-03 to deployment hotpass-backfill: the flow takes neither since/until nor a runs list of {run_date, version}',
    );
    expect(error.details).toEqual([
      'it accepts:',
      '  start_date: string (required)',
      '  end_date: string (required)',
      '  dry: boolean = false',
      'fix it in rehearse.config with one of:',
      expect.stringMatching(/^ {2}run\.window\.mode: template/),
      expect.stringMatching(/^ {2}run\.window\.mode: none/),
    ]);
  });

  it('since/until forced on the upstream flow', () => {
    const error = failure(() => buildWindowParameters(input(SCHEMAS.upstream, { window: { mode: 'since-until' } })));
    expect(error.message).toMatch(/mode is since-until but the flow has no since or until parameter/);
    expect(error.details).toContain('  runs: list[object] (required)');
  });

  it('since/until that take no date string', () => {
    expect(failure(() => buildWindowParameters(input(SCHEMAS.numbers, {}, {}))).message).toMatch(
      /since and until do\(es\) not take a date string/,
    );
  });

  it('a parameter the flow refuses, from run.parameters or a template', () => {
    const error = failure(() =>
      buildWindowParameters(input(SCHEMAS.upstream, { parameters: { since: '2024-01-01' } })),
    );
    expect(error.message).toBe('deployment hotpass-backfill does not accept parameter(s) since');
    expect(error.details).toEqual([
      'it accepts: runs, archive_root, restore_root, archive_pattern, base_config, parameters, telemetry, concurrency_limit, concurrency_key',
    ]);
    const templated = failure(() =>
      buildWindowParameters(
        input(SCHEMAS.upstream, { window: { mode: 'template', parameters: { until: '{until}' } } }),
      ),
    );
    expect(templated.message).toMatch(/does not accept parameter\(s\) until/);
  });

  it('a required parameter nobody supplies', () => {
    const error = failure(() => buildWindowParameters(input(SCHEMAS.upstream, {}, { runs: [] })));
    expect(error.message).toMatch(
      /the flow requires archive_root, restore_root, which neither the deployment's defaults nor rehearse supply/,
    );
    expect(error.details).toContain('  run.parameters: {archive_root: ..., restore_root: ...}');
  });

  it('run.parameters setting what the window sets', () => {
    const error = failure(() => buildWindowParameters(input(SCHEMAS.upstream, { parameters: { runs: [] } })));
    expect(error.message).toMatch(/sets runs, which the window already sets \(mode runs\)/);
    expect(
      buildWindowParameters(input(SCHEMAS.upstream, { parameters: { runs: [] }, window: { mode: 'none' } })).parameters,
    ).toEqual({ runs: [] });
  });
});

describe('config and schema reading', () => {
  it('refuses a template without parameters, and parameters without template mode', () => {
    expect(ConfigSchema.safeParse({ run: { window: { mode: 'template' } } }).success).toBe(false);
    expect(ConfigSchema.safeParse({ run: { window: { parameters: { a: 1 } } } }).success).toBe(false);
    expect(ConfigSchema.safeParse({ run: { window: { mode: 'weekly' } } }).success).toBe(false);
  });

  it("describes parameters in the flow's order, through $ref", () => {
    const schema = readParameterSchema(SCHEMAS.modelled);
    expect(schema && describeParameters(schema)).toEqual([
      { name: 'runs', type: 'list[BackfillRun{run_date, version}] | null', required: false, default: null },
      { name: 'archive_root', type: 'string', required: false, default: 'dist/input-archives' },
    ]);
  });

  it('counts the days of the window, both ends included, across a month end', () => {
    expect(daysOf('2024-02-28', '2024-03-01')).toEqual(['2024-02-28', '2024-02-29', '2024-03-01']);
    expect(daysOf('2024-01-01', '2024-01-01')).toEqual(['2024-01-01']);
  });
});

describe('parameter names from a schema a PostgreSQL server returned', () => {
  it('come back in the flow’s signature order (position), not JSONB’s key order', () => {
    const jsonbOrder = {
      runs: { position: 2 },
      since: { position: 0 },
      until: { position: 1 },
      parameters: { position: 5 },
      day_seconds: { position: 8 },
    };
    expect(parameterNames(jsonbOrder)).toEqual(['since', 'until', 'runs', 'parameters', 'day_seconds']);
    expect(Object.keys(readParameterSchema({ properties: jsonbOrder })?.properties ?? {})).toEqual([
      'since',
      'until',
      'runs',
      'parameters',
      'day_seconds',
    ]);
  });
});
