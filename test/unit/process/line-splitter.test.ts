import { describe, expect, it } from 'vitest';
import { lineSplitter } from '../../../src/process/runner.js';

describe('splitting a process’s stdout into lines', () => {
  it('keeps a multi-byte character whole when a chunk ends inside it', () => {
    const lines: string[] = [];
    const splitter = lineSplitter((line) => lines.push(line));
    const bytes = Buffer.from('Flow run started\n└── UUID: 5162db9a\ntail', 'utf8');
    const cut = bytes.indexOf(Buffer.from('└', 'utf8')) + 1; // one byte into the three of '└'
    splitter.write(bytes.subarray(0, cut));
    splitter.write(bytes.subarray(cut));
    splitter.end();
    expect(lines).toEqual(['Flow run started', '└── UUID: 5162db9a', 'tail']);
  });
});
