import { ExitCode, RehearseError } from '../errors.js';

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

export interface SignalGuard {
  signal: AbortSignal;
  /** Listens while a command runs; the returned function stops listening. */
  listen(): () => void;
}

/**
 * Every signal ends one way: the abort reaches the steps, which stop their children and the browser,
 * cancel the runs (unless --leave-runs) and record the bundle interrupted; the command exits 3.
 */
export function createSignalGuard(): SignalGuard {
  const controller = new AbortController();
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals): void => {
    signals += 1;
    if (signals === 1) {
      process.stderr.write(`\n${signal}: stopping: cancelling the rehearsal's runs and recording the interruption\n`);
      controller.abort(new RehearseError('INTERRUPTED', `interrupted by ${signal}`));
    } else if (signals === 2) {
      process.stderr.write(
        `${signal}: still stopping, usually a few seconds; a third signal quits at once and leaves the runs\n`,
      );
    } else {
      // The bundle's lock stays behind, so the next command reports it abandoned.
      process.stderr.write(
        `${signal}: quitting at once; the bundle will be reported abandoned: run \`rehearse cleanup\` for its runs\n`,
      );
      process.exit(ExitCode.couldNotRun);
    }
  };
  return {
    signal: controller.signal,
    listen() {
      for (const signal of SIGNALS) process.on(signal, onSignal);
      return () => {
        for (const signal of SIGNALS) process.off(signal, onSignal);
      };
    },
  };
}
