// Part of `npm run build`: stores every command's --help text in dist/help.json, so `rehearse ... --help`
// prints it without loading the CLI (bin/rehearse.js). The text is commander's own, laid out at a fixed width.
import { writeFileSync } from 'node:fs';

const { helpTexts } = await import('../dist/cli.js');
writeFileSync(new URL('../dist/help.json', import.meta.url), `${JSON.stringify(helpTexts())}\n`);
