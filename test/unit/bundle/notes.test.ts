import { appendFile, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Bundle, createBundle } from '../../../src/bundle/bundle.js';
import { deviationsMarkdown, NOTES_FILE, table, updateNotes } from '../../../src/bundle/notes.js';
import type { Check } from '../../../src/guardrails/verdict.js';
import { createRedactor, MASK } from '../../../src/secrets/redact.js';

const NOW = new Date('2026-11-26T01:20:00Z');
const LATER = new Date('2026-11-26T01:30:00Z');
const OPERATOR_TEXT = 'QA: the worker restarted at 01:14, rerunning inspect.\n';

let root: string;
let bundle: Bundle;
beforeEach(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'rehearse-notes-'));
  bundle = await createBundle(root, NOW, createRedactor(['pnu_secret_api_key']));
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

const notes = () => readFile(path.join(bundle.dir, NOTES_FILE), 'utf8');
const count = (text: string, part: string) => text.split(part).length - 1;

describe('updateNotes', () => {
  it('starts notes.md with a title and an operator section', async () => {
    expect(await updateNotes(bundle, 'inspect', 'Inspect', 'first body', NOW)).toBe(NOTES_FILE);
    const text = await notes();
    expect(text.startsWith(`# Rehearsal notes ${bundle.name}\n`)).toBe(true);
    expect(text).toContain('## Inspect\n\nfirst body\n');
    expect(text.indexOf('## Inspect')).toBeLessThan(text.indexOf('## Operator notes'));
  });

  it("replaces a step's section on rerun and keeps what the operator wrote", async () => {
    await updateNotes(bundle, 'inspect', 'Inspect', 'first body', NOW);
    await appendFile(path.join(bundle.dir, NOTES_FILE), OPERATOR_TEXT);
    await updateNotes(bundle, 'inspect', 'Inspect again', 'second body', LATER);
    const text = await notes();
    expect(text).not.toContain('first body');
    expect(text).toContain('## Inspect again\n\nsecond body\n');
    expect(count(text, '<!-- rehearse:inspect -->')).toBe(1);
    expect(text.endsWith(OPERATOR_TEXT)).toBe(true);
    expect(text.indexOf('## Operator notes')).toBeLessThan(text.indexOf(OPERATOR_TEXT));
    expect(await readdir(bundle.dir)).toEqual([NOTES_FILE]);
  });

  it("adds another step's section above the operator notes, leaving the first as it was", async () => {
    await updateNotes(bundle, 'inspect', 'Inspect', 'inspect body', NOW);
    await appendFile(path.join(bundle.dir, NOTES_FILE), OPERATOR_TEXT);
    await updateNotes(bundle, 'run', 'Run', 'run body', LATER);
    const text = await notes();
    expect(text).toContain('## Inspect\n\ninspect body\n');
    expect(text.indexOf('inspect body')).toBeLessThan(text.indexOf('run body'));
    expect(text.indexOf('run body')).toBeLessThan(text.indexOf('## Operator notes'));
    expect(text.endsWith(OPERATOR_TEXT)).toBe(true);
  });

  it('redacts secrets in a section', async () => {
    await updateNotes(bundle, 'run', 'Run', 'ran with key pnu_secret_api_key', NOW);
    const text = await notes();
    expect(text).not.toContain('pnu_secret_api_key');
    expect(text).toContain(`ran with key ${MASK}`);
  });
});

describe('deviationsMarkdown', () => {
  const check = (id: string, verdict: Check['verdict'], reason: string): Check => ({
    id,
    step: 'inspect',
    title: id,
    verdict,
    reason,
    expected: 2,
    actual: 5,
  });

  it('says so when every check passed', () => {
    expect(deviationsMarkdown([check('a', 'pass', 'ok'), check('b', 'pass', 'ok')])).toBe(
      'All 2 checks matched the manifest.',
    );
  });

  it('tabulates only the checks that did not pass, escaping pipes and newlines', () => {
    const text = deviationsMarkdown([
      check('a', 'pass', 'ok'),
      check('b', 'fail', 'allows 5 | not 2\nsee docs'),
      check('c', 'inconclusive', 'no limit'),
    ]);
    expect(text.split('\n')).toEqual([
      '| check | verdict | expected | found | why |',
      '| --- | --- | --- | --- | --- |',
      '| b | fail | 2 | 5 | allows 5 \\| not 2 see docs |',
      '| c | inconclusive | 2 | 5 | no limit |',
    ]);
  });

  it('renders values as JSON in cells, and nothing for undefined', () => {
    expect(table(['x', 'y'], [[{ a: 1 }, undefined]]).split('\n')[2]).toBe('| {"a":1} |  |');
  });
});
