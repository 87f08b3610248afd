import fs from 'node:fs';
import tty from 'node:tty';
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

/**
 * A closed terminal must not turn exit 3 into an abort. Node 20 saves the terminal settings of stdio
 * at start and restores them at exit, and aborts (SIGABRT, status 134) when that fails with EIO, as it
 * does once the pty is gone (nodejs/node#51519, fixed only in later Node releases). Node skips any
 * stdio descriptor that no longer refers to the file it saw at start, so at exit a descriptor whose
 * terminal hung up (it was a TTY, it is not one now) is swapped for /dev/null: nothing can reach that
 * terminal any more, and a file opened later can never receive stray writes meant for it.
 */
export function releaseHungUpTerminalAtExit(): void {
  const terminals = [0, 1, 2].filter((fd) => tty.isatty(fd));
  if (terminals.length === 0) return;
  process.once('exit', () => {
    for (const fd of terminals) if (!tty.isatty(fd)) replaceWithDevNull(fd);
  });
}

function replaceWithDevNull(fd: number): void {
  try {
    fs.closeSync(fd);
    // The lowest free descriptor is the one just closed; if another took it, Node skips it all the same.
    const opened = fs.openSync('/dev/null', 'r+');
    if (opened !== fd) fs.closeSync(opened);
  } catch {
    // Already closed: Node skips a closed descriptor too.
  }
}
