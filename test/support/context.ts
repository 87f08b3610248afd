import { fileURLToPath } from 'node:url';
import { type ConfigInput, ConfigSchema } from '../../src/config/schema.js';
import { type Context, forStep, type RunFlags } from '../../src/context.js';
import type { PrefectApi } from '../../src/prefect/api.js';
import { prefectEnv } from '../../src/prefect/commands.js';
import type { ProcessRunner } from '../../src/process/command.js';
import type { RehearseEvent, Reporter } from '../../src/reporters/events.js';
import type { Redactor } from '../../src/secrets/redact.js';

/** The stand-in hotpass project whose manifest the steps judge against. */
export const HOTPASS_DIR = fileURLToPath(new URL('../../fixtures/hotpass', import.meta.url));

export interface RecordingReporter extends Reporter {
  readonly events: RehearseEvent[];
}

export function createRecordingReporter(): RecordingReporter {
  const events: RehearseEvent[] = [];
  return {
    events,
    emit: (event) => {
      events.push(event);
    },
    close: async () => undefined,
  };
}

/**
 * A Context as session.ts builds one, over injected fakes: forStep wraps the runner and the
 * API in their journals, so the journal is filled as in a real run.
 */
export function createTestContext(options: {
  runner: ProcessRunner;
  api: PrefectApi;
  config?: ConfigInput;
  flags?: Partial<RunFlags>;
  redact?: Redactor;
  now?: () => Date;
  projectDir?: string;
  /** Where rehearse was started (ledgers, the evidence root); the project directory unless told. */
  cwd?: string;
  env?: NodeJS.ProcessEnv;
}): Context & { reporter: RecordingReporter } {
  const reporter = createRecordingReporter();
  const ctx = forStep(
    {
      cwd: options.cwd ?? options.projectDir ?? HOTPASS_DIR,
      env: options.env ?? {},
      config: ConfigSchema.parse(options.config ?? {}),
      prefect: {
        apiUrl: options.api.baseUrl,
        env: prefectEnv(options.api.baseUrl),
        projectDir: options.projectDir ?? HOTPASS_DIR,
        sandbox: false,
      },
      gateways: { runner: options.runner, api: options.api },
      reporter,
      flags: { dryRun: false, ci: true, failFast: false, leaveRuns: false, ...options.flags },
      redact: options.redact ?? ((text) => text),
      signal: new AbortController().signal,
      now: options.now ?? (() => new Date('2026-11-26T01:20:00Z')),
    },
    'test',
  ) as Context & { reporter: RecordingReporter };
  return ctx;
}
