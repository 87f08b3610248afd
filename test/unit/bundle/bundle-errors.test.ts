import os from 'node:os';
import path from 'node:path';
import fs from 'fs-extra';
import { describe, expect, it } from 'vitest';
import { createBundle, openBundle, writeEvidence } from '../../../src/bundle/bundle.js';
import { SUMMARY_FILE } from '../../../src/bundle/summary.js';
import { newSummary } from '../../../src/bundle/summary-io.js';
import { isRehearseError } from '../../../src/errors.js';
import { createRedactor } from '../../../src/secrets/redact.js';

describe('writeEvidence on a disk that refuses the write', () => {
  it('says which file could not be written and what to do, as an exit-3 error rather than a crash', async () => {
    const root = await fs.mkdtemp(path.join(os.tmpdir(), 'rehearse-unwritable-'));
    // A regular file where the bundle's subdirectory should be: the write fails with ENOTDIR.
    await fs.writeFile(path.join(root, 'rendered'), 'not a directory');
    const bundle = { dir: root, name: 'x', redact: (t: string) => t };
    const error = await writeEvidence(bundle, 'rendered/specs.json', '{}', new Date()).catch((e: unknown) => e);
    expect(isRehearseError(error) && [error.code, error.exitCode]).toEqual(['EVIDENCE_ROOT_UNWRITABLE', 3]);
    expect((error as Error).message).toContain('could not write rendered/specs.json');
    expect(await fs.readFile(path.join(root, 'rendered'), 'utf8')).toBe('not a directory');
  });
});

describe('openBundle on a bundle whose summary.json cannot be used', () => {
  it('says why: the field of the wrong type, or the JSON that does not parse', async () => {
    const root = await fs.mkdtemp(path.join(os.tmpdir(), 'rehearse-badsummary-'));
    try {
      const bundle = await createBundle(root, new Date('2026-11-26T01:00:00Z'), createRedactor([]));
      const file = path.join(bundle.dir, SUMMARY_FILE);
      await fs.writeJson(file, { ...newSummary(bundle, new Date('2026-11-26T01:00:00Z'), {}), sealed: 'yes' });
      const wrongType = await openBundle(bundle.dir, createRedactor([])).catch((e: unknown) => e);
      expect(wrongType).toMatchObject({
        code: 'BUNDLE_INVALID',
        details: [expect.stringMatching(/^summary\.json: sealed: /)],
      });
      await fs.writeFile(file, '{"bundle": ');
      const notJson = await openBundle(bundle.dir, createRedactor([])).catch((e: unknown) => e);
      expect(notJson).toMatchObject({ details: [expect.stringMatching(/^summary\.json is not JSON: /)] });
    } finally {
      await fs.remove(root);
    }
  });
});
