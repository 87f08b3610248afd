#!/usr/bin/env node
import { main } from '../dist/cli.js';

// A closed pipe (`rehearse --help | head`) is not an error worth a stack trace.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error) => {
    if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    // A terminal that hung up (SIGHUP) must not cut short the cancelling and recording of the stop.
    if (error.code === 'EIO') return;
    throw error;
  });
}
process.exitCode = await main(process.argv);
