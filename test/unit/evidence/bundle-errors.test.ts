import os from 'node:os';
import path from 'node:path';
import fs from 'fs-extra';
import { describe, expect, it } from 'vitest';
import { isRehearseError } from '../../../src/errors.js';
import { writeEvidence } from '../../../src/evidence/bundle.js';

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
