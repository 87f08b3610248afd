import type { Writable } from 'node:stream';
import { maskJson, type Redactor } from '../secrets/redact.js';
import { type CommandResult, onResult, type Reporter } from './events.js';

/** The document --json prints: values under secret-named keys and every known secret masked. */
export function renderJson(result: CommandResult, redact: Redactor): string {
  const { summary, ...rest } = result;
  const document = { ...rest, ...(summary ? { summary } : {}) };
  return `${JSON.stringify(maskJson(document, redact).value, null, 2)}\n`;
}

/** --json: exactly one JSON document on stdout, written when the command ends. */
export function createJsonReporter(stream: Writable, redact: Redactor = (text) => text): Reporter {
  return onResult(async (result) => {
    const text = renderJson(result, redact);
    await new Promise<void>((resolve) => stream.write(text, () => resolve()));
  });
}
