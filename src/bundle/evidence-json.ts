import path from 'node:path';
import fs from 'fs-extra';
import type { z } from 'zod';
import { messageOf, RehearseError } from '../errors.js';

/**
 * A value rehearse wrote into a bundle, parsed with the schema its writer exports. What is not what was
 * written is refused through `refuse`, given the first problem as `path: message` (`whole` when the value
 * itself is wrong), so it stops here with a message instead of being read through a cast and failing later.
 */
export function parseWritten<S extends z.ZodType>(
  schema: S,
  value: unknown,
  refuse: (problem: string) => RehearseError,
  whole = 'top level',
): z.output<S> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  throw refuse(`${issue?.path.join('.') || whole}: ${issue?.message}`);
}

/** A JSON evidence file of a bundle, parsed with the schema its writer exports (see parseWritten). */
export async function readEvidenceJson<S extends z.ZodType>(
  dir: string,
  rel: string,
  schema: S,
  hint: string,
): Promise<z.output<S>> {
  const text = await fs.readFile(path.join(dir, rel), 'utf8');
  const refuse = (problem: string) =>
    new RehearseError(
      'BUNDLE_INVALID',
      `${rel} of bundle ${path.basename(dir)} is not what rehearse wrote (${problem})`,
      { hint },
    );
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw refuse(`not JSON: ${messageOf(error)}`);
  }
  return parseWritten(schema, value, refuse);
}
