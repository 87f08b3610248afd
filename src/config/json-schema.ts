import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { ConfigSchema } from './schema.js';

/** The schema `npm run build` writes into dist/ of the package. */
const CONFIG_SCHEMA_FILE = 'rehearse.config.schema.json';

/** The absolute path of the schema the package ships (the same from src/config and dist/config). */
export function configSchemaPath(): string {
  return fileURLToPath(new URL(`../../dist/${CONFIG_SCHEMA_FILE}`, import.meta.url));
}

/**
 * The JSON Schema of rehearse.config (json|yaml) as a user writes it: the input side of the zod schema, so a key
 * with a default is optional. Checks zod runs in code (a real date, since <= until, the burst's maximum) are
 * not expressible here; the loader still applies them.
 */
export function configJsonSchema(): Record<string, unknown> {
  return {
    ...z.toJSONSchema(ConfigSchema, { io: 'input', unrepresentable: 'any', target: 'draft-7' }),
    title: 'rehearse.config',
    description: 'Settings of rehearse, the Prefect backfill guardrail rehearsal; every key is optional.',
  };
}
