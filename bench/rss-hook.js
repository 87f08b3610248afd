// @ts-check
// Loaded with `node --import ./bench/rss-hook.js bin/rehearse.js ...`: when the process exits,
// write its peak resident set size (KB, this node process only; children excluded) to the file
// named by REHEARSE_BENCH_RSS_FILE.
import fs from 'node:fs';

const file = process.env.REHEARSE_BENCH_RSS_FILE;
if (file) {
  process.on('exit', () => {
    try {
      fs.writeFileSync(file, `${process.resourceUsage().maxRSS}\n`);
    } catch {
      // a benchmark aid must never change how the measured command ends
    }
  });
}
