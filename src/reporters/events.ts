import type { StepRecord, Summary } from '../bundle/summary.js';
import type { Check } from '../guardrails/verdict.js';

/** What core code says; reporters decide how it looks. Core code never prints. */
export type RehearseEvent =
  | { type: 'step-start'; step: string; title: string }
  | { type: 'command-start'; step: string; display: string; dryRun: boolean }
  | {
      type: 'command-end';
      step: string;
      display: string;
      ok: boolean;
      exitCode: number | null;
      durationMs: number;
      /** rehearse itself ended the command (a watch no longer needed), not the operator and not the command. */
      stoppedByUs?: boolean;
    }
  | { type: 'waiting'; step: string; message: string }
  | { type: 'check'; check: Check }
  | { type: 'step-end'; record: StepRecord }
  | { type: 'info'; message: string }
  | { type: 'warn'; message: string }
  | { type: 'done'; result: CommandResult };

export interface CommandResult {
  command: string;
  exitCode: number;
  verdict: Summary['verdict'] | 'error';
  bundle?: string;
  summary?: Summary;
  /** A plan printed by --dry-run: nothing was triggered or written. */
  dryRun?: boolean;
  /** Free-form output for commands that are not a rehearsal step (sandbox, doctor, verify). */
  data?: Record<string, unknown>;
  lines?: string[];
  error?: { code: string; message: string; hint?: string; details?: string[] };
}

export interface Reporter {
  emit(event: RehearseEvent): void;
  close(): Promise<void>;
}

/** A reporter that waits for the command's result and acts on it once, when closed (not at all without one). */
export function onResult(act: (result: CommandResult) => Promise<void>): Reporter {
  let result: CommandResult | undefined;
  return {
    emit(event) {
      if (event.type === 'done') result = event.result;
    },
    async close() {
      if (result) await act(result);
    },
  };
}

export function combineReporters(reporters: Reporter[]): Reporter {
  return {
    emit: (event) => reporters.forEach((r) => r.emit(event)),
    close: async () => {
      for (const r of reporters) await r.close();
    },
  };
}
