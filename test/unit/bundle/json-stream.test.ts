import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Bundle, writeEvidence, writeEvidenceJson } from '../../../src/bundle/bundle.js';
import { createRedactor, MASK, maskedJsonChunks, redactDocument } from '../../../src/secrets/redact.js';

const PLANTED = 'planted-secret-value-1';
const NOW = new Date('2026-11-28T12:00:00Z');
const LATER = new Date('2026-11-28T12:05:00Z');

/** What the whole-document path writes for a value: the bytes the pieces must add up to. */
const whole = (value: unknown, secrets: string[] = []): string =>
  redactDocument(createRedactor(secrets), 'state-history.json', `${JSON.stringify(value, null, 2)}\n`);
const pieces = (value: unknown, secrets: string[] = []): string =>
  `${[...maskedJsonChunks(value, createRedactor(secrets))].join('')}\n`;

const history = (n: number) => ({
  asOf: '2026-11-28T12:00:00.000Z',
  deploymentId: 'd-1',
  rehearsalRunIds: ['r-0', 'r-1'],
  runs: Array.from({ length: n }, (_, i) => ({
    runId: `r-${i}`,
    runName: `run "${i}"\n`,
    rehearsal: i < 2,
    states: [
      { id: `s-${i}`, timestamp: '2026-11-28T11:59:00.000000Z', type: 'SCHEDULED', name: 'Scheduled' },
      { id: `t-${i}`, timestamp: '2026-11-28T11:59:01.000000Z', type: 'RUNNING', name: 'Running', extra: undefined },
    ],
  })),
});

describe('maskedJsonChunks', () => {
  it.each([
    ['a state history', history(3)],
    ['no runs', history(0)],
    ['an empty object', {}],
    ['an empty array', []],
    ['a top-level array', [{ a: 1 }, [2, [3]], 'x', null]],
    ['a string', 'just text'],
    ['nested empties and unicode', { a: [], b: {}, c: [[]], d: 'é ✓ \u2028', e: [{}, { f: [] }] }],
    ['dates and undefined', { at: NOW, gone: undefined, list: [NOW, undefined] }],
    ['a secret at the top', { password: 'hunter2-long-enough', runs: [{ token: 'abc-token-value' }] }],
    ['secrets in a top-level array', [{ a: 1 }, { auth: { user: 'u', pass: 'p' } }]],
  ])('adds up to the whole document for %s', (_name, value) => {
    expect(pieces(value)).toBe(whole(value));
  });

  it('masks what is held under a secret-named key, and that value wherever it appears, even earlier', async () => {
    const value = {
      ...history(2),
      runs: [
        { runId: 'r-0', message: `used ${PLANTED} to log in`, states: [] },
        { runId: 'r-1', parameters: { api_token: PLANTED }, states: [] },
      ],
      credentials: { user: 'someone' },
    };
    const text = pieces(value);
    expect(text).toBe(whole(value));
    expect(text).not.toContain(PLANTED);
    expect(text).not.toContain('someone');
    expect(text).toContain(`used ${MASK} to log in`);
    expect(JSON.parse(text).runs[1].parameters.api_token).toBe(MASK);
  });

  it('masks the secrets the redactor was given', () => {
    const value = history(2);
    value.runs = value.runs.map((run, i) => (i === 0 ? { ...run, runName: `name with ${PLANTED}` } : run));
    expect(pieces(value, [PLANTED])).toBe(whole(value, [PLANTED]));
    expect(pieces(value, [PLANTED])).not.toContain(PLANTED);
  });

  it('never builds the whole document: each piece is at most one run', () => {
    const chunks = [...maskedJsonChunks(history(1000), createRedactor([]))];
    const longest = Math.max(...chunks.map((c) => c.length));
    expect(longest).toBeLessThan(1000);
    expect(chunks.join('').length).toBeGreaterThan(300_000);
  });
});

describe('writeEvidenceJson', () => {
  let dir: string;
  let bundle: Bundle;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'rehearse-json-stream-'));
    bundle = { dir, name: '20261128T120000Z', redact: createRedactor([PLANTED]) };
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('writes the bytes writeEvidence writes, and leaves no temp file', async () => {
    const value = history(50);
    await writeEvidenceJson(bundle, 'state-history.json', value, NOW);
    const other = { ...bundle, dir: await mkdtemp(path.join(tmpdir(), 'rehearse-json-whole-')) };
    await writeEvidence(other, 'state-history.json', `${JSON.stringify(value, null, 2)}\n`, NOW);
    expect(await readFile(path.join(dir, 'state-history.json'), 'utf8')).toBe(
      await readFile(path.join(other.dir, 'state-history.json'), 'utf8'),
    );
    expect(await readdir(dir)).toEqual(['state-history.json']);
    await rm(other.dir, { recursive: true, force: true });
  });

  it('rewrites nothing when the content is the same, and keeps the old file when it changes', async () => {
    await writeEvidenceJson(bundle, 'state-history.json', history(2), NOW);
    await writeEvidenceJson(bundle, 'state-history.json', history(2), LATER);
    expect(await readdir(dir)).toEqual(['state-history.json']);
    await writeEvidenceJson(bundle, 'state-history.json', history(3), LATER);
    expect((await readdir(dir)).sort()).toEqual(['state-history.json', 'superseded']);
    const kept = JSON.parse(
      await readFile(path.join(dir, 'superseded', '20261128T120500Z', 'state-history.json'), 'utf8'),
    );
    expect(kept.runs).toHaveLength(2);
    expect(JSON.parse(await readFile(path.join(dir, 'state-history.json'), 'utf8')).runs).toHaveLength(3);
  });
});
