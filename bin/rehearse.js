#!/usr/bin/env node
import { readFileSync, statSync } from 'node:fs';

/**
 * `rehearse [command...] --help`: the text `npm run build` stored from commander (dist/help.json), or
 * undefined when that copy is missing, older than the CLI it describes, or has no such command.
 */
function storedHelp(args) {
  const last = args.at(-1);
  const names = args.slice(0, -1);
  if ((last !== '--help' && last !== '-h') || !names.every((name) => /^[a-z][a-z-]*$/.test(name))) return undefined;
  try {
    const stored = new URL('../dist/help.json', import.meta.url);
    if (statSync(stored).mtimeMs < statSync(new URL('../dist/cli.js', import.meta.url)).mtimeMs) return undefined;
    return JSON.parse(readFileSync(stored, 'utf8'))[names.join(' ')];
  } catch {
    return undefined;
  }
}

// `rehearse --version` and `--help` print what they know without loading the CLI (start-up, bench row 1).
const args = process.argv.slice(2);
const help = storedHelp(args);
if (args.length === 1 && (args[0] === '--version' || args[0] === '-V')) {
  const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
  process.stdout.write(`${version}\n`);
} else if (help !== undefined) {
  process.stdout.write(help);
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
