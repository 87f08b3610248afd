import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { configJsonSchema } from '../../../src/config/json-schema.js';

const repo = path.resolve(import.meta.dirname, '..', '..', '..');

describe('the config schema the build stores', () => {
  it('is the one generated from the sources, where the built init points editors', async () => {
    const built = (await import(path.join(repo, 'dist', 'config', 'json-schema.js'))) as {
      configSchemaPath: () => string;
    };
    const stored = built.configSchemaPath();
    expect(stored).toBe(path.join(repo, 'dist', 'rehearse.config.schema.json'));
    expect(existsSync(stored)).toBe(true);
    expect(JSON.parse(await readFile(stored, 'utf8'))).toEqual(configJsonSchema());
  });
});
