import os from 'node:os';
import path from 'node:path';
import fs from 'fs-extra';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Bundle, createBundle, writeEvidence } from '../../../src/bundle/bundle.js';
import { listMaskedPaths, noteMaskedPaths } from '../../../src/bundle/secret-notes.js';
import { createRedactor, MASK } from '../../../src/secrets/redact.js';

const NOW = new Date('2026-11-26T01:20:00Z');
const RUNS = [
  {
    id: 'r1',
    name: 'calm-otter',
    parameters: { since: '2024-01-01', notify_token: 'hand-run-capture-token' },
    idempotency_key: null,
  },
];
let root: string;
let bundle: Bundle;

beforeEach(async () => {
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'rehearse-secret-notes-'));
  bundle = await createBundle(root, NOW, createRedactor([]));
});
afterEach(() => fs.remove(root));

describe('evidence files and the masked-paths note', () => {
  it('writes a JSON file with secret-named values masked, knowing no value in advance (a capture run by hand)', async () => {
    await writeEvidence(bundle, 'metadata.json', `${JSON.stringify(RUNS, null, 2)}\n`, NOW);
    const text = await fs.readFile(path.join(bundle.dir, 'metadata.json'), 'utf8');
    expect(text).not.toContain('hand-run-capture-token');
    expect(JSON.parse(text)).toEqual([{ ...RUNS[0], parameters: { since: '2024-01-01', notify_token: MASK } }]);
    // Learned: the same value in a log written later is masked too.
    await writeEvidence(bundle, 'run.log', 'Parameters: hand-run-capture-token\n', NOW);
    expect(await fs.readFile(path.join(bundle.dir, 'run.log'), 'utf8')).toBe(`Parameters: ${MASK}\n`);
  });

  it('names the masked JSON paths in notes.md, and writes no section when nothing was masked', async () => {
    await writeEvidence(
      bundle,
      'deployment.json',
      `${JSON.stringify({ parameters: { concurrency_key: 'k' } }, null, 2)}\n`,
      NOW,
    );
    expect(await noteMaskedPaths(bundle, NOW)).toBeUndefined();
    await writeEvidence(bundle, 'metadata.json', `${JSON.stringify(RUNS, null, 2)}\n`, NOW);
    expect(await listMaskedPaths(bundle.dir)).toEqual(['metadata.json: [0].parameters.notify_token']);
    expect(await noteMaskedPaths(bundle, NOW)).toBe('notes.md');
    const notes = await fs.readFile(path.join(bundle.dir, 'notes.md'), 'utf8');
    expect(notes).toContain('## Masked secrets');
    expect(notes).toContain('`metadata.json: [0].parameters.notify_token`');
  });
});
