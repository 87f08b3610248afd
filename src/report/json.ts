import type { Writable } from 'node:stream';
import type { CommandResult, Reporter } from './events.js';

/** --json: exactly one JSON document on stdout, written when the command ends. */
export function createJsonReporter(stream: Writable): Reporter {
  let result: CommandResult | undefined;
  return {
    emit(event) {
      if (event.type === 'done') result = event.result;
    },
    async close() {
      if (!result) return;
      const { summary, ...rest } = result;
      const document = { ...rest, ...(summary ? { summary } : {}) };
      await new Promise<void>((resolve) => stream.write(`${JSON.stringify(document, null, 2)}\n`, () => resolve()));
    },
  };
}
