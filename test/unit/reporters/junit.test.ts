import { describe, expect, it } from 'vitest';
import { type StepRecord, SUMMARY_SCHEMA, type Summary } from '../../../src/bundle/summary.js';
import type { Check } from '../../../src/guardrails/verdict.js';
import { renderJunit } from '../../../src/reporters/junit.js';
import { createRedactor, MASK } from '../../../src/secrets/redact.js';

const SECRET = 'pnu_3f9a1c2b7d4e5f60718293a4';
const redact = createRedactor([SECRET]);

const check = (
  id: string,
  verdict: Check['verdict'],
  reason: string,
  expected: unknown = 2,
  actual: unknown = 2,
): Check => ({
  id,
  step: 'inspect',
  title: id,
  verdict,
  reason,
  expected,
  actual,
});

function step(name: string, status: StepRecord['status'], checks: Check[], error?: StepRecord['error']): StepRecord {
  return {
    name,
    title: name,
    status,
    verdict: status === 'ok' ? 'pass' : 'error',
    startedAt: '2026-11-26T01:20:00.000Z',
    durationMs: 1500,
    files: [],
    commands: [],
    checks,
    ...(error ? { error } : {}),
  };
}

function summaryOf(steps: StepRecord[]): Summary {
  return {
    schema: SUMMARY_SCHEMA,
    bundle: '20261126T012000Z',
    createdAt: '2026-11-26T01:20:00.000Z',
    updatedAt: '2026-11-26T01:21:00.000Z',
    status: 'partial',
    sealed: false,
    verdict: 'fail',
    exitCode: 1,
    tool: { name: 'rehearse', version: '0.1.0', node: 'v20.20.2' },
    prefect: {},
    target: {},
    steps,
    checks: steps.flatMap((s) => s.checks),
  };
}

const INSPECT_CHECKS = [
  check('deployment.concurrency_limit', 'fail', 'the deployment allows 5 concurrent runs, the manifest 2', 2, 5),
  check(
    'global_limit',
    'fail',
    `'hotpass/backfill' can never name a limit (Prefect refuses / % & > < in names) "quoted" token=${SECRET}`,
    2,
    null,
  ),
  check('deployment.work_pool', 'pass', 'hotpass-backfill-pool'),
  check('parameters.concurrency_limit', 'inconclusive', 'the manifest does not set parameters.concurrency_limit'),
];
const SUMMARY = summaryOf([
  step('preflight', 'ok', []),
  step('inspect', 'ok', INSPECT_CHECKS),
  step('run', 'error', [], {
    code: 'API_UNREACHABLE',
    message: 'the Prefect API did not answer',
    hint: 'check PREFECT_API_URL',
  }),
]);

/** The `<testcase .../>` or `<testcase ...>...</testcase>` element with this name. */
function testcase(xml: string, name: string): string {
  const found = xml.split('\n').filter((line) => line.includes(`<testcase `) && line.includes(` name="${name}"`));
  expect(found).toHaveLength(1);
  return found[0]!;
}

describe('renderJunit', () => {
  const xml = renderJunit(SUMMARY, redact);

  it('has one testcase per step and per check, and counts them', () => {
    expect(xml.match(/<testcase /g)).toHaveLength(3 + 4);
    for (const name of ['preflight', 'inspect', 'run'])
      expect(testcase(xml, name)).toContain('classname="rehearse.steps"');
    for (const c of INSPECT_CHECKS) expect(testcase(xml, c.id)).toContain('classname="rehearse.guardrails.inspect"');
    expect(xml).toContain('<testsuites name="rehearse" tests="7" failures="2" errors="1" skipped="1">');
  });

  it('gives a failed check a failure element carrying its reason and the values', () => {
    const limit = testcase(xml, 'deployment.concurrency_limit');
    expect(limit).toContain(
      '<failure message="the deployment allows 5 concurrent runs, the manifest 2" type="guardrail">expected 2, found 5</failure>',
    );
    expect(testcase(xml, 'deployment.work_pool')).not.toContain('<failure');
    expect(testcase(xml, 'parameters.concurrency_limit')).toContain(
      '<skipped message="inconclusive: the manifest does not set parameters.concurrency_limit"/>',
    );
  });

  it('gives a step that could not run an error element with its code and hint', () => {
    expect(testcase(xml, 'run')).toContain(
      '<error message="the Prefect API did not answer (check PREFECT_API_URL)" type="API_UNREACHABLE"/>',
    );
    expect(testcase(xml, 'preflight')).not.toMatch(/<error|<failure|<skipped/);
  });

  it('escapes XML special characters in reasons', () => {
    const line = testcase(xml, 'global_limit');
    expect(line).toContain(
      `message="&apos;hotpass/backfill&apos; can never name a limit (Prefect refuses / % &amp; &gt; &lt; in names) &quot;quoted&quot; token=${MASK}"`,
    );
    const message = /message="([^"]*)"/.exec(line)?.[1] ?? '';
    expect(message).not.toMatch(/[<>'"]|&(?!(amp|lt|gt|quot|apos);)/);
  });

  it('never shows a redacted secret', () => {
    expect(xml).not.toContain(SECRET);
    expect(xml).toContain(MASK);
  });

  it('drops control characters XML cannot hold', () => {
    const out = renderJunit(
      summaryOf([step('inspect', 'ok', [check('x', 'fail', 'bell\u0007 and escape\u001b[31m')])]),
      redact,
    );
    expect(testcase(out, 'x')).toContain('message="bell and escape[31m"');
  });
});

describe('renderJunit masks by key name', () => {
  it("masks a secret-named value inside a check's expected/found, and learns it for the failure message", () => {
    const learning = createRedactor([]);
    const leaky = check(
      'parameters.notify',
      'fail',
      'deployment default differs: server-default-token',
      { notify_token: 'x' },
      { notify_token: 'server-default-token' },
    );
    const xml = renderJunit(summaryOf([step('inspect', 'ok', [leaky])]), learning);
    expect(xml).not.toContain('server-default-token');
    expect(xml).toContain(MASK);
  });
});
