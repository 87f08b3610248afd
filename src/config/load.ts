import path from 'node:path';
import fs from 'fs-extra';
import { messageOf, RehearseError } from '../errors.js';
import { formatIssues } from '../util/zod-issues.js';
import { type Config, ConfigSchema } from './schema.js';

export const CONFIG_FILES = ['rehearse.config.json', 'rehearse.config.yaml', 'rehearse.config.yml'];

async function readConfigFile(cwd: string, explicit?: string): Promise<{ file?: string; data: unknown }> {
  const candidates = explicit ? [path.resolve(cwd, explicit)] : CONFIG_FILES.map((name) => path.join(cwd, name));
  const found = candidates.filter((file) => fs.existsSync(file));
  if (explicit && found.length === 0) {
    throw new RehearseError('CONFIG_INVALID', `config file not found: ${explicit}`, {
      hint: 'pass an existing file to --config',
    });
  }
  if (found.length > 1) {
    throw new RehearseError(
      'CONFIG_INVALID',
      `more than one config file: ${found.map((f) => path.basename(f)).join(', ')}`,
      {
        hint: 'keep one rehearse.config file in the working directory',
      },
    );
  }
  const file = found[0];
  if (!file) return { data: {} };
  const text = await fs.readFile(file, 'utf8');
  try {
    if (file.endsWith('.json')) return { file, data: JSON.parse(text) };
    const { parse } = await import('yaml');
    return { file, data: parse(text) ?? {} };
  } catch (error) {
    throw new RehearseError(
      'CONFIG_INVALID',
      `${path.basename(file)} is not valid ${file.endsWith('.json') ? 'JSON' : 'YAML'}`,
      {
        details: [messageOf(error).split('\n')[0] ?? ''],
        hint: 'fix the syntax, or delete the file to use the defaults',
      },
    );
  }
}

function mergeDeep(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(over)) {
    if (value === undefined) continue;
    const current = out[key];
    out[key] = isPlainObject(current) && isPlainObject(value) ? mergeDeep(current, value) : value;
  }
  return out;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export interface LoadedConfig {
  config: Config;
  file?: string;
}

/** Defaults < file < flags. Flags arrive in the config's own shape. */
export async function loadConfig(options: {
  cwd: string;
  file?: string;
  overrides?: Record<string, unknown>;
}): Promise<LoadedConfig> {
  const { file, data } = await readConfigFile(options.cwd, options.file);
  if (!isPlainObject(data)) {
    throw new RehearseError(
      'CONFIG_INVALID',
      `${file ? path.basename(file) : 'config'} must hold an object of settings`,
      {
        hint: 'see "Configuration" in the README',
      },
    );
  }
  const fileResult = ConfigSchema.safeParse(data);
  if (!fileResult.success) {
    throw new RehearseError('CONFIG_INVALID', `${path.basename(file ?? 'config')} is invalid`, {
      details: formatIssues(fileResult.error.issues),
      hint: 'fix the keys above (see "Configuration" in the README)',
    });
  }
  const merged = ConfigSchema.safeParse(mergeDeep(data, options.overrides ?? {}));
  if (!merged.success) {
    throw new RehearseError('USAGE', 'invalid option value', {
      details: formatIssues(merged.error.issues),
      hint: 'run with --help for the accepted values',
    });
  }
  return { config: merged.data, ...(file ? { file } : {}) };
}
