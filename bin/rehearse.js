#!/usr/bin/env node
import { readFileSync } from 'node:fs';

// `rehearse --version` prints one line: it loads nothing of the CLI to do so (start-up, bench row 1).
const args = process.argv.slice(2);
if (args.length === 1 && (args[0] === '--version' || args[0] === '-V')) {
  const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
  process.stdout.write(`${version}\n`);
} else {
  // A closed pipe (`rehearse --help | head`) is not an error worth a stack trace.
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (error) => {
      if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
      // A terminal that hung up (SIGHUP) must not cut short the cancelling and recording of the stop.
      if (error.code === 'EIO') return;
      throw error;
    });
  }
  const { main } = await import('../dist/cli.js');
  process.exitCode = await main(process.argv);
}
