// Part of `npm run build`: writes the JSON Schema of rehearse.config (from the zod schema) to
// dist/rehearse.config.schema.json, which the package ships and `rehearse init` points editors at.
import { writeFileSync } from 'node:fs';

const { configJsonSchema, configSchemaPath } = await import('../dist/config/json-schema.js');
writeFileSync(configSchemaPath(), `${JSON.stringify(configJsonSchema(), null, 2)}\n`);
