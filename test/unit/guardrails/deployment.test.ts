import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { type GlobalLimitLookup, judgeDeployment } from '../../../src/guardrails/deployment.js';
import { type ExpectedGuardrails, expectedFromManifest, parseManifestText } from '../../../src/guardrails/manifest.js';
import type { Check } from '../../../src/guardrails/verdict.js';
import {
  DeploymentSchema,
  type GlobalConcurrencyLimit,
  GlobalConcurrencyLimitSchema,
} from '../../../src/prefect/schemas.js';
import { recorded, recordedDeployment } from '../../support/fake-api.js';

const MANIFEST = 'fixtures/hotpass/prefect/deployments/hotpass-backfill.yaml';
const UPSTREAM_MANIFEST = 'fixtures/manifests/hotpass-upstream-backfill.yaml';

async function expectedFrom(file: string): Promise<ExpectedGuardrails> {
  const text = readFileSync(new URL(`../../../${file}`, import.meta.url), 'utf8');
  return expectedFromManifest(await parseManifestText(text, file), file);
}

type Raw = ReturnType<typeof recordedDeployment>;

/** The recorded deployment, changed by `mutate` on a copy, parsed as the inspect step parses it. */
function deployment(mutate: (raw: Raw) => void = () => undefined) {
  const raw = recordedDeployment();
  mutate(raw);
  return DeploymentSchema.parse(raw);
}

const recordedGcl = (): GlobalConcurrencyLimit => GlobalConcurrencyLimitSchema.parse(JSON.parse(recorded('gcl.json')));
/** The limit named by the manifest's key, as the inspect step looks it up; `undefined` when it does not exist. */
const lookup = (limit: GlobalConcurrencyLimit | undefined): GlobalLimitLookup => ({ name: 'hotpass-backfill', limit });

const ALL_IDS = [
  'deployment.concurrency_limit',
  'deployment.collision_strategy',
  'deployment.work_pool',
  'parameters.concurrency_key',
  'parameters.concurrency_limit',
  'parameters.pipeline.backfill',
  'global_limit',
];

const notPassing = (checks: Check[]) => checks.filter((c) => c.verdict !== 'pass');

/** Asserts that exactly one check fails, and returns it. */
function onlyFailure(checks: Check[], id: string): Check {
  expect(checks.map((c) => c.id)).toEqual(ALL_IDS);
  expect(notPassing(checks).map((c) => [c.id, c.verdict])).toEqual([[id, 'fail']]);
  return checks.find((c) => c.id === id) as Check;
}

describe('judgeDeployment on the recorded Prefect 3.9.1 deployment', () => {
  it('passes every guardrail of the stand-in manifest', async () => {
    const checks = judgeDeployment(await expectedFrom(MANIFEST), deployment(), lookup(recordedGcl()));
    expect(checks.map((c) => c.id)).toEqual(ALL_IDS);
    expect(notPassing(checks)).toEqual([]);
    expect(checks.every((c) => c.step === 'inspect')).toBe(true);
  });

  describe('one drifted guardrail fails one check, saying why', () => {
    const gcl = (raw: Raw) => raw.global_concurrency_limit as Record<string, unknown>;
    const pipeline = (raw: Raw) => (raw.parameters.parameters as { pipeline: Record<string, unknown> }).pipeline;
    const cases: [name: string, mutate: (raw: Raw) => void, id: string, reason: RegExp][] = [
      [
        'deployment limit 5',
        (raw) => {
          gcl(raw).limit = 5;
        },
        'deployment.concurrency_limit',
        /allows 5 concurrent runs, the manifest 2/,
      ],
      [
        'deployment limit inactive',
        (raw) => {
          gcl(raw).active = false;
        },
        'deployment.concurrency_limit',
        /inactive: runs are not throttled/,
      ],
      [
        'no deployment limit',
        (raw) => {
          raw.global_concurrency_limit = null;
        },
        'deployment.concurrency_limit',
        /has no concurrency limit/,
      ],
      [
        'collision strategy CANCEL_NEW',
        (raw) => {
          raw.concurrency_options = { collision_strategy: 'CANCEL_NEW', grace_period_seconds: null };
        },
        'deployment.collision_strategy',
        /collision strategy is CANCEL_NEW, the manifest's ENQUEUE/,
      ],
      [
        'concurrency_key changed',
        (raw) => {
          raw.parameters.concurrency_key = 'hotpass-other';
        },
        'parameters.concurrency_key',
        /default is "hotpass-other", the manifest's "hotpass-backfill"/,
      ],
      [
        'parameters.pipeline.backfill false',
        (raw) => {
          pipeline(raw).backfill = false;
        },
        'parameters.pipeline.backfill',
        /default is false, the manifest's true/,
      ],
      [
        'work pool changed',
        (raw) => {
          raw.work_pool_name = 'default-pool';
        },
        'deployment.work_pool',
        /runs on default-pool, the manifest on hotpass-backfill-pool/,
      ],
    ];
    it.each(cases)('%s', async (_name, mutate, id, reason) => {
      const failed = onlyFailure(
        judgeDeployment(await expectedFrom(MANIFEST), deployment(mutate), lookup(recordedGcl())),
        id,
      );
      expect(failed.reason).toMatch(reason);
    });

    it('records what was expected and what was found for a failed check', async () => {
      const failed = onlyFailure(
        judgeDeployment(
          await expectedFrom(MANIFEST),
          deployment((raw) => {
            gcl(raw).limit = 5;
          }),
          lookup(recordedGcl()),
        ),
        'deployment.concurrency_limit',
      );
      expect([failed.expected, failed.actual]).toEqual([2, 5]);
    });
  });

  describe('the global limit the concurrency key names', () => {
    it('fails when the limit does not exist, and says how to create it', async () => {
      const failed = onlyFailure(
        judgeDeployment(await expectedFrom(MANIFEST), deployment(), lookup(undefined)),
        'global_limit',
      );
      expect(failed.reason).toMatch(/'hotpass-backfill' does not exist/);
      expect(failed.reason).toContain('prefect gcl create hotpass-backfill --limit 2');
    });

    it('fails when the limit is inactive', async () => {
      const failed = onlyFailure(
        judgeDeployment(await expectedFrom(MANIFEST), deployment(), lookup({ ...recordedGcl(), active: false })),
        'global_limit',
      );
      expect(failed.reason).toMatch(/'hotpass-backfill' is inactive/);
      expect(failed.reason).toContain('prefect gcl enable hotpass-backfill');
    });

    it('fails when the limit has other slots than the manifest asks', async () => {
      const failed = onlyFailure(
        judgeDeployment(await expectedFrom(MANIFEST), deployment(), lookup({ ...recordedGcl(), limit: 5 })),
        'global_limit',
      );
      expect(failed.reason).toMatch(/allows 5 slots, the manifest's concurrency_limit parameter 2/);
    });

    it("fails the upstream manifest's slash key, which can never name a limit", async () => {
      const expected = await expectedFrom(UPSTREAM_MANIFEST);
      expect(expected.concurrencyKey).toBe('hotpass/backfill');
      // The deployment carries the manifest's key, so only the limit itself is wrong.
      const slashed = deployment((raw) => {
        raw.parameters.concurrency_key = 'hotpass/backfill';
      });
      const failed = onlyFailure(
        judgeDeployment(expected, slashed, { name: 'hotpass/backfill', limit: undefined }),
        'global_limit',
      );
      expect(failed.reason).toMatch(/'hotpass\/backfill' can never name a global concurrency limit/);
      expect(failed.reason).toMatch(/runs unthrottled/);
      expect(failed.reason).toContain(
        '`prefect gcl create hotpass-backfill --limit 2 && prefect api PATCH /deployments/',
      );
      expect(failed.reason).toContain('"concurrency_key":"hotpass-backfill"');
      expect(failed.reason).toContain('rename concurrency_key to hotpass-backfill in the manifest');
    });

    it('fails when there is no concurrency key to name a limit', async () => {
      const failed = onlyFailure(
        judgeDeployment(await expectedFrom(MANIFEST), deployment(), { name: undefined }),
        'global_limit',
      );
      expect(failed.reason).toMatch(/no concurrency_key parameter/);
    });
  });

  it('is inconclusive about the deployment limit when the manifest sets none', async () => {
    const text = readFileSync(new URL(`../../../${MANIFEST}`, import.meta.url), 'utf8').replace(
      /^concurrency_limit: 2\n/m,
      '',
    );
    expect(text).not.toMatch(/^concurrency_limit:/m);
    const expected = expectedFromManifest(await parseManifestText(text, 'no-limit.yaml'), 'no-limit.yaml');
    const checks = judgeDeployment(expected, deployment(), lookup(recordedGcl()));
    expect(notPassing(checks).map((c) => [c.id, c.verdict])).toEqual([
      ['deployment.concurrency_limit', 'inconclusive'],
    ]);
    expect(checks[0]?.reason).toMatch(/no-limit\.yaml sets no concurrency_limit/);
  });
});
