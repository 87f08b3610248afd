import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { CommandResult } from '../../../src/reporters/events.js';
import { createJsonReporter, renderJson } from '../../../src/reporters/json.js';
import { createPrettyReporter } from '../../../src/reporters/pretty.js';
import { collectSecrets, createRedactor, MASK } from '../../../src/secrets/redact.js';

const ENV_KEY = 'pnu_env-planted-key-123';
const PARAM_TOKEN = 'param-planted-token-456';

/** What a dry run of `rehearse run --param notify_token=… --json` returns: parameters in data, in a planned command. */
const RESULT: CommandResult = {
  command: 'run',
  exitCode: 0,
  verdict: 'incomplete',
  dryRun: true,
  data: {
    parameters: { since: '2024-01-01', notify_token: PARAM_TOKEN, nested: { apiKey: 'short' } },
    concurrency_key: 'hotpass-backfill',
  },
  lines: [`would run uv run prefect deployment run x --params {"notify_token": "${PARAM_TOKEN}"}`],
  error: { code: 'API_ERROR', message: `answered 401 for key ${ENV_KEY}`, details: [] },
};

function capture(): { stream: PassThrough; text: () => string } {
  const stream = new PassThrough();
  const chunks: Buffer[] = [];
  stream.on('data', (chunk: Buffer) => chunks.push(chunk));
  return { stream, text: () => Buffer.concat(chunks).toString('utf8') };
}

describe('--json reporter', () => {
  it('masks secret-named values at any depth and known secrets anywhere, keeping the rest', async () => {
    const redact = createRedactor(collectSecrets({ PREFECT_API_KEY: ENV_KEY }));
    const out = capture();
    const reporter = createJsonReporter(out.stream, redact);
    reporter.emit({ type: 'done', result: RESULT });
    await reporter.close();
    const text = out.text();
    expect(text).not.toContain(PARAM_TOKEN);
    expect(text).not.toContain(ENV_KEY);
    const doc = JSON.parse(text) as {
      data: { parameters: Record<string, unknown>; concurrency_key: string };
      lines: string[];
    };
    expect(doc.data.parameters).toEqual({ since: '2024-01-01', notify_token: MASK, nested: { apiKey: MASK } });
    expect(doc.data.concurrency_key).toBe('hotpass-backfill');
    // Learned from the key name, so the same token in free text is masked too.
    expect(doc.lines[0]).toContain(`"notify_token": "${MASK}"`);
  });

  it('prints the secrets without a redactor (the test breaks if masking is dropped)', () => {
    expect(renderJson(RESULT, (t) => t)).toContain(PARAM_TOKEN);
  });
});

describe('pretty reporter', () => {
  it('masks every line it writes, including what the redactor learned after it was made', async () => {
    const redact = createRedactor([ENV_KEY]);
    const out = capture();
    const reporter = createPrettyReporter({ stream: out.stream, color: false, live: false, redact });
    reporter.emit({
      type: 'command-start',
      step: 'run',
      display: `PREFECT_API_KEY=${ENV_KEY} uv run prefect`,
      dryRun: true,
    });
    redact.learn(['learned-later-secret']);
    reporter.emit({ type: 'info', message: '└── Parameters: {"notify_token": "learned-later-secret"}' });
    reporter.emit({ type: 'done', result: RESULT });
    await reporter.close();
    const text = out.text();
    expect(text).not.toContain(ENV_KEY);
    expect(text).not.toContain('learned-later-secret');
    expect(text).toContain(`PREFECT_API_KEY=${MASK}`);
  });
});
