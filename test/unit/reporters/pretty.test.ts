import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createPrettyReporter } from '../../../src/reporters/pretty.js';

function capture(): { stream: PassThrough; text: () => string } {
  const stream = new PassThrough();
  const chunks: Buffer[] = [];
  stream.on('data', (chunk: Buffer) => chunks.push(chunk));
  return { stream, text: () => Buffer.concat(chunks).toString('utf8') };
}

const record = (name: string) => ({
  name,
  title: name,
  status: 'ok' as const,
  verdict: 'pass' as const,
  startedAt: '2026-11-28T03:00:00.000Z',
  durationMs: 100,
  commands: [],
  checks: [],
  files: [],
});

describe('the human reporter (as --ci prints it)', () => {
  it('names the step on each line while two steps run side by side, and not while one runs alone', async () => {
    const out = capture();
    const reporter = createPrettyReporter({ stream: out.stream, color: false, live: false });
    reporter.emit({ type: 'step-start', step: 'render', title: 'render the manifests' });
    reporter.emit({ type: 'command-start', step: 'render', display: 'uv run hotpass deploy --dry-run', dryRun: false });
    reporter.emit({ type: 'step-start', step: 'inspect', title: 'inspect the deployment' });
    reporter.emit({
      type: 'command-start',
      step: 'inspect',
      display: 'uv run prefect deployment inspect x',
      dryRun: false,
    });
    reporter.emit({ type: 'command-end', step: 'render', display: '', ok: true, exitCode: 0, durationMs: 900 });
    reporter.emit({ type: 'step-end', record: record('render') as never });
    reporter.emit({ type: 'command-end', step: 'inspect', display: '', ok: false, exitCode: 1, durationMs: 1200 });
    await reporter.close();
    const lines = out.text().split('\n');
    expect(lines).toContain('  $ uv run hotpass deploy --dry-run');
    expect(lines).toContain('  [inspect] $ uv run prefect deployment inspect x');
    expect(lines).toContain('    [render] exit 0 · 0.9s');
    // render has ended: inspect runs alone again.
    expect(lines).toContain('    exit 1 1.2s');
  });
});

describe('the line that ends a step', () => {
  it("gives the step's verdict, as the closing table does, not 'ok' for a step that ran and found a failure", async () => {
    const out = capture();
    const reporter = createPrettyReporter({ stream: out.stream, color: false, live: false });
    reporter.emit({ type: 'step-start', step: 'preflight', title: 'doctor' });
    reporter.emit({ type: 'step-end', record: { ...record('preflight'), verdict: 'fail' as const } as never });
    await reporter.close();
    expect(out.text().split('\n')).toContain('  preflight FAIL in 0.1s');
  });
});

describe('a command rehearse itself stopped', () => {
  it('says rehearse stopped it, not a red exit 143 that reads as a failure', async () => {
    const out = capture();
    const reporter = createPrettyReporter({ stream: out.stream, color: false, live: false });
    reporter.emit({
      type: 'command-start',
      step: 'run',
      display: 'uv run prefect deployment run x --watch',
      dryRun: false,
    });
    reporter.emit({
      type: 'command-end',
      step: 'run',
      display: '',
      ok: false,
      exitCode: 143,
      durationMs: 21_000,
      stoppedByUs: true,
    });
    await reporter.close();
    expect(out.text()).toContain('stopped by rehearse, which had what it needed (not a failure) · 21.0s');
    expect(out.text()).not.toContain('exit 143');
  });
});

describe('where the human reporter writes errors', () => {
  it('sends what went wrong, its details and what to do to the error stream, the progress to the other', async () => {
    const out = capture();
    const err = capture();
    const reporter = createPrettyReporter({ stream: out.stream, errorStream: err.stream, color: false, live: false });
    reporter.emit({ type: 'step-start', step: 'inspect', title: 'inspect the deployment' });
    const failed = { ...record('inspect'), status: 'error' as const, verdict: 'error' as const };
    const error = { code: 'NOT_FOUND', message: 'no deployment named x', hint: 'set --deployment' };
    reporter.emit({ type: 'step-end', record: { ...failed, error } as never });
    reporter.emit({
      type: 'done',
      result: { command: 'inspect', exitCode: 3, verdict: 'error', error: { ...error, details: ['one detail'] } },
    });
    await reporter.close();
    expect(out.text()).toContain('▶ inspect');
    expect(out.text()).not.toContain('no deployment named x');
    expect(err.text().split('\n')).toEqual([
      '  ✖ no deployment named x',
      '    → set --deployment',
      'error: no deployment named x',
      '  one detail',
      'what to do: set --deployment',
      '',
    ]);
  });
});

describe("the human reporter's closing lines", () => {
  it('name the failed and inconclusive checks with their reasons and fixes, before the table, failed rows first', async () => {
    const out = capture();
    const reporter = createPrettyReporter({ stream: out.stream, color: false, live: false });
    const check = (id: string, verdict: 'pass' | 'fail' | 'inconclusive', reason: string) => ({
      id,
      step: 'validate',
      title: id,
      verdict,
      reason,
    });
    const checks = [
      check('concurrency.deployment_limit', 'pass', 'peak 2, limit 2'),
      check('concurrency.global_limit', 'inconclusive', 'inactive: nothing to measure against'),
      check(
        'global_limit.free',
        'fail',
        'limit hotpass-backfill is inactive; fix: uv run prefect gcl enable hotpass-backfill',
      ),
    ];
    const summary = { steps: [{ ...record('validate'), verdict: 'fail', checks }], checks, target: {} };
    reporter.emit({
      type: 'done',
      result: { command: 'backfill', exitCode: 1, verdict: 'fail', summary: summary as never },
    });
    await reporter.close();
    const lines = out.text().split('\n');
    const at = (text: string): number => lines.findIndex((line) => line.includes(text));
    expect(lines).toContain('  FAIL global_limit.free: limit hotpass-backfill is inactive');
    expect(lines).toContain('    fix: `uv run prefect gcl enable hotpass-backfill`');
    expect(at('FAIL global_limit.free')).toBeLessThan(at('INCONCLUSIVE concurrency.global_limit:'));
    expect(at('INCONCLUSIVE concurrency.global_limit:')).toBeLessThan(at('step / check'));
    expect(at('  global_limit.free ')).toBeLessThan(at('  concurrency.deployment_limit '));
  });
});
