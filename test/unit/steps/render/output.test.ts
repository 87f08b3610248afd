import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { extractJsonObjects, rejectedOptions } from '../../../../src/steps/render/output.js';

const DRY_RUN_STDOUT = await readFile(
  new URL('../../../../fixtures/hotpass-render/dry-run.stdout', import.meta.url),
  'utf8',
);

describe('extractJsonObjects', () => {
  it("finds the stand-in hotpass's spec between its prose lines", () => {
    const specs = extractJsonObjects(DRY_RUN_STDOUT);
    expect(specs).toHaveLength(1);
    expect(specs[0]).toMatchObject({
      name: 'hotpass-backfill',
      work_pool: 'hotpass-backfill-pool',
      parameters: { parameters: { pipeline: { backfill: true } } },
    });
  });

  it('keeps top-level objects only, skips braces in prose, and reads braces inside strings as text', () => {
    const text = [
      'rendering {flow} now, with an unclosed { here',
      '{"name": "a", "nested": {"x": 1}, "note": "a } and a { in a string"}',
      'between: {not json}',
      '{"name": "b", "quote": "say \\"}\\""}',
      '[1, 2]',
    ].join('\n');
    expect(extractJsonObjects(text)).toEqual([
      { name: 'a', nested: { x: 1 }, note: 'a } and a { in a string' },
      { name: 'b', quote: 'say "}"' },
    ]);
  });

  it('finds nothing in output without JSON', () => {
    expect(extractJsonObjects('dry run: hotpass-backfill not applied\n')).toEqual([]);
  });
});

describe('rejectedOptions', () => {
  it.each([
    [
      'argparse',
      'usage: hotpass [-h] {deploy} ...\nhotpass: error: unrecognized arguments: --no-upload --dry-run\n',
      ['--no-upload', '--dry-run'],
    ],
    ['argparse with a value', 'hotpass: error: unrecognized arguments: --since=2024-01-01 2024\n', ['--since']],
    [
      'click',
      "Usage: hotpass deploy [OPTIONS]\nTry 'hotpass deploy --help' for help.\n\nError: No such option: --no-upload Did you mean --upload?\n",
      ['--no-upload'],
    ],
    [
      'typer (rich)',
      '╭─ Error ──────────────────────────╮\n│ No such option: --dry-run        │\n╰──────────────────────────────────╯\n',
      ['--dry-run'],
    ],
    ['other parsers', "error: unknown option '--no-upload'\nUnknown option: -n\n", ['--no-upload', '-n']],
  ])('reads %s', (_parser, output, flags) => {
    expect(rejectedOptions(output)).toEqual(flags);
  });

  it('finds none in a failure that is not about options', () => {
    expect(rejectedOptions('hotpass: manifest directory not found: prefect/nope\n')).toEqual([]);
  });
});
