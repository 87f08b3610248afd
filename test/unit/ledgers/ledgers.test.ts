import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  appendNextStepsTask,
  appendRehearsalLogEntry,
  ledgerMarker,
  linkBundleInPlan,
  locationFrom,
} from '../../../src/ledgers/ledgers.js';
import { createRedactor, MASK } from '../../../src/secrets/redact.js';

const KEY = 'rehearse:guardrail:hotpass-backfill/hotpass-backfill';
const TASK_TEXT = 'Backfill guardrail violated in staging rehearsal 20261126T012000Z: peak 3 RUNNING over limit 2.';
const NEW_TASK = `- [ ] **QA** — ${TASK_TEXT} <!-- ${KEY} -->`;

const NEXT_STEPS = `# Next steps

Owners pick tasks up at the Monday sync.

## Tasks

- [ ] **Platform** — Rotate the staging Prefect API key before the 3.x upgrade.
- [ ] **Data** — Re-run the lineage smoke tests once Marquez is back.

## Done

- [x] **QA** — Review the sandbox runbook.
`;

const LOG = `# Next steps log

- [x] **2026-10-02 · Platform** — Upgraded staging to Prefect 3.9.1.
- [x] **2026-11-01 · QA** — Backfill guardrail rehearsal 20261101T090000Z: verdict fail, evidence at \`dist/staging/backfill/20261101T090000Z\`
`;

const PLAN = `# Staging rehearsal plan

Rehearse the backfill guardrails before every release.

## Evidence

- 2026-11-01 [backfill rehearsal 20261101T090000Z](../../dist/staging/backfill/20261101T090000Z) — verdict fail

## Sign-off

QA and Platform sign off here.
`;

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'rehearse-ledgers-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const at = (rel: string) => path.join(dir, rel);
const read = (rel: string) => readFile(at(rel), 'utf8');
/** A redactor that knows no secret: the ledgers' layout, as an operator's repository has it. */
const unmasked = (text: string) => text;
const task = (file: string, key = KEY) =>
  appendNextStepsTask({ file: at(file), owner: 'QA', text: TASK_TEXT, key, redact: unmasked });

describe('appendNextStepsTask', () => {
  it('adds the task as the last line of ## Tasks, before ## Done, in the ledger style', async () => {
    await writeFile(at('Next_Steps.md'), NEXT_STEPS);
    expect(await task('Next_Steps.md')).toEqual({ added: true, line: NEW_TASK });
    expect(await read('Next_Steps.md')).toBe(
      NEXT_STEPS.replace(
        '- [ ] **Data** — Re-run the lineage smoke tests once Marquez is back.\n',
        `- [ ] **Data** — Re-run the lineage smoke tests once Marquez is back.\n${NEW_TASK}\n`,
      ),
    );
  });

  it('adds nothing on a rerun: the open task with the key is returned as it is', async () => {
    await writeFile(at('Next_Steps.md'), NEXT_STEPS);
    await task('Next_Steps.md');
    const once = await read('Next_Steps.md');
    const again = await appendNextStepsTask({
      file: at('Next_Steps.md'),
      owner: 'Platform',
      text: 'worded differently',
      key: KEY,
      redact: unmasked,
    });
    expect(again).toEqual({ added: false, line: NEW_TASK });
    expect(await read('Next_Steps.md')).toBe(once);
    expect(await readdir(dir)).toEqual(['Next_Steps.md']);
  });

  it('is not blocked by a closed task with the same key', async () => {
    const closed = `- [x] **QA** — An earlier violation, fixed. <!-- ${KEY} -->`;
    await writeFile(at('Next_Steps.md'), NEXT_STEPS.replace('- [x] **QA** — Review the sandbox runbook.', closed));
    expect((await task('Next_Steps.md')).added).toBe(true);
    const lines = (await read('Next_Steps.md')).split('\n');
    expect(lines.filter((l) => l.includes(ledgerMarker(KEY)))).toEqual([NEW_TASK, closed]);
    expect(lines.indexOf(NEW_TASK)).toBeLessThan(lines.indexOf('## Done'));
  });

  it('creates a missing file with a ## Tasks section', async () => {
    expect((await task('Next_Steps.md')).added).toBe(true);
    expect(await read('Next_Steps.md')).toBe(`# Next steps\n\n## Tasks\n\n${NEW_TASK}\n`);
  });

  it('appends a ## Tasks section to a file without one', async () => {
    await writeFile(at('Next_Steps.md'), '# Next steps\n\n## Done\n\n- [x] **QA** — Review the sandbox runbook.\n\n');
    await task('Next_Steps.md');
    expect(await read('Next_Steps.md')).toBe(
      `# Next steps\n\n## Done\n\n- [x] **QA** — Review the sandbox runbook.\n\n## Tasks\n\n${NEW_TASK}\n`,
    );
  });

  it('fills an empty ## Tasks section, keeping a blank line before the next heading', async () => {
    await writeFile(at('Next_Steps.md'), '# Next steps\n\n## Tasks\n\n## Done\n');
    await task('Next_Steps.md');
    expect(await read('Next_Steps.md')).toBe(`# Next steps\n\n## Tasks\n\n${NEW_TASK}\n\n## Done\n`);
  });

  it('looks past ## lines inside fenced code and keeps CRLF line endings', async () => {
    const crlf =
      '# Next steps\r\n\r\n## Tasks\r\n\r\nTemplate:\r\n\r\n```\r\n## not a heading\r\n```\r\n\r\n- [ ] **Data** — Fix the exporter.\r\n\r\n## Done\r\n';
    await writeFile(at('Next_Steps.md'), crlf);
    await task('Next_Steps.md');
    expect(await read('Next_Steps.md')).toBe(crlf.replace('exporter.\r\n', `exporter.\r\n${NEW_TASK}\r\n`));
  });

  it('keeps task text on one line', async () => {
    await appendNextStepsTask({
      file: at('Next_Steps.md'),
      owner: 'QA',
      text: 'first line\n  second line',
      key: 'k',
      redact: unmasked,
    });
    expect(await read('Next_Steps.md')).toContain('- [ ] **QA** — first line second line <!-- k -->\n');
  });
});

describe('ledgerMarker', () => {
  it('folds what would end or break the HTML comment, the same way every time', () => {
    expect(ledgerMarker('rehearse:violation:a/b:x,y')).toBe('<!-- rehearse:violation:a/b:x,y -->');
    expect(ledgerMarker('a--b-->c<d')).toBe('<!-- a-b-›c‹d -->');
    expect(() => ledgerMarker('  ')).toThrow(/non-empty/);
    expect(() => ledgerMarker('a\nb')).toThrow(/one non-empty line/);
  });
});

describe('appendRehearsalLogEntry', () => {
  const entry = {
    owner: 'QA',
    date: '2026-11-26',
    text: 'Backfill guardrail rehearsal 20261126T012000Z: verdict pass',
    key: 'rehearse:upload:20261126T012000Z',
    redact: unmasked,
  };
  const line =
    '- [x] **2026-11-26 · QA** — Backfill guardrail rehearsal 20261126T012000Z: verdict pass <!-- rehearse:upload:20261126T012000Z -->';

  it('appends the entry at the end in the log style, once', async () => {
    await writeFile(at('Next_Steps_Log.md'), LOG);
    expect(await appendRehearsalLogEntry({ file: at('Next_Steps_Log.md'), ...entry })).toEqual({ added: true, line });
    expect(await read('Next_Steps_Log.md')).toBe(`${LOG}${line}\n`);

    expect(await appendRehearsalLogEntry({ file: at('Next_Steps_Log.md'), ...entry, date: '2026-11-27' })).toEqual({
      added: false,
      line,
    });
    expect(await read('Next_Steps_Log.md')).toBe(`${LOG}${line}\n`);
  });

  it('creates a missing log with its title, and mends a missing final newline', async () => {
    await appendRehearsalLogEntry({ file: at('new/Next_Steps_Log.md'), ...entry });
    expect(await read('new/Next_Steps_Log.md')).toBe(`# Next steps log\n\n${line}\n`);
    await writeFile(at('Next_Steps_Log.md'), LOG.trimEnd());
    await appendRehearsalLogEntry({ file: at('Next_Steps_Log.md'), ...entry });
    expect(await read('Next_Steps_Log.md')).toBe(`${LOG}${line}\n`);
  });

  it('refuses a date that is not YYYY-MM-DD', async () => {
    await expect(
      appendRehearsalLogEntry({ file: at('Next_Steps_Log.md'), ...entry, date: '26/11/2026' }),
    ).rejects.toThrow(/YYYY-MM-DD/);
  });
});

describe('linkBundleInPlan', () => {
  const link = {
    bundleName: '20261126T012000Z',
    location: '../../dist/staging/backfill/20261126T012000Z',
    verdict: 'pass',
    date: '2026-11-26',
    redact: unmasked,
  };
  const line =
    '- 2026-11-26 [backfill rehearsal 20261126T012000Z](../../dist/staging/backfill/20261126T012000Z) — verdict pass';
  const plan = 'docs/operations/staging-rehearsal-plan.md';

  it('adds the link as the last line of ## Evidence, before the next section, once per bundle and copy', async () => {
    await mkdir(path.dirname(at(plan)), { recursive: true });
    await writeFile(at(plan), PLAN);
    expect(await linkBundleInPlan({ file: at(plan), ...link })).toEqual({ added: true, line });
    const expected = PLAN.replace('— verdict fail\n', `— verdict fail\n${line}\n`);
    expect(await read(plan)).toBe(expected);

    expect(await linkBundleInPlan({ file: at(plan), ...link, verdict: 'fail' })).toEqual({ added: false, line });
    expect(await read(plan)).toBe(expected);
    const second = '- 2026-11-26 [backfill rehearsal 20261126T012000Z](s3://evidence/x/) — verdict pass';
    expect(await linkBundleInPlan({ file: at(plan), ...link, location: 's3://evidence/x/' })).toEqual({
      added: true,
      line: second,
    });
    expect(await read(plan)).toBe(expected.replace(`${line}\n`, `${line}\n${second}\n`));
  });

  it('creates a missing plan, and adds ## Evidence to a plan without one', async () => {
    await linkBundleInPlan({ file: at('missing.md'), ...link });
    expect(await read('missing.md')).toBe(`# Staging rehearsal plan\n\n## Evidence\n\n${line}\n`);
    await writeFile(at('bare.md'), '# Staging rehearsal plan\n\nRehearse before every release.\n');
    await linkBundleInPlan({ file: at('bare.md'), ...link });
    expect(await read('bare.md')).toBe(
      `# Staging rehearsal plan\n\nRehearse before every release.\n\n## Evidence\n\n${line}\n`,
    );
  });

  it('puts a location with spaces in angle brackets so the link still works', async () => {
    const { line: spaced } = await linkBundleInPlan({
      file: at('p.md'),
      ...link,
      location: '../shared evidence/20261126T012000Z',
    });
    expect(spaced).toBe(
      '- 2026-11-26 [backfill rehearsal 20261126T012000Z](<../shared evidence/20261126T012000Z>) — verdict pass',
    );
  });
});

describe('locationFrom', () => {
  it('links a copy inside the repository relatively, and anything else as it is', () => {
    const repo = '/srv/hotpass';
    const planFile = '/srv/hotpass/docs/operations/staging-rehearsal-plan.md';
    expect(locationFrom(planFile, '/srv/hotpass/evidence/20261126T012000Z', repo)).toBe(
      '../../evidence/20261126T012000Z',
    );
    expect(locationFrom('/srv/hotpass/Next_Steps_Log.md', '/srv/hotpass/evidence/20261126T012000Z', repo)).toBe(
      'evidence/20261126T012000Z',
    );
    expect(locationFrom(planFile, '/mnt/shared/evidence/20261126T012000Z', repo)).toBe(
      '/mnt/shared/evidence/20261126T012000Z',
    );
    expect(locationFrom(planFile, '/srv/hotpass-archive/20261126T012000Z', repo)).toBe(
      '/srv/hotpass-archive/20261126T012000Z',
    );
    expect(locationFrom(planFile, 's3://evidence/team/20261126T012000Z/', repo)).toBe(
      's3://evidence/team/20261126T012000Z/',
    );
  });
});

describe('every ledger write goes through the redactor', () => {
  const SECRET = 'planted-ledger-secret-5e1a';
  const redact = createRedactor([SECRET]);

  it('masks a task, and a rerun finds the masked task', async () => {
    await writeFile(at('Next_Steps.md'), NEXT_STEPS);
    const entry = { file: at('Next_Steps.md'), owner: 'QA', text: `token ${SECRET} changed`, key: KEY, redact };
    expect(await appendNextStepsTask(entry)).toEqual({
      added: true,
      line: `- [ ] **QA** — token ${MASK} changed <!-- ${KEY} -->`,
    });
    expect((await appendNextStepsTask(entry)).added).toBe(false);
    expect(await read('Next_Steps.md')).not.toContain(SECRET);
  });

  it('masks the log line and the plan link, and files each once', async () => {
    const location = `../evidence-${SECRET}/20261126T012000Z`;
    const log = {
      file: at('Next_Steps_Log.md'),
      owner: 'QA',
      date: '2026-11-26',
      text: `evidence at \`${location}\``,
      key: `rehearse:upload:20261126T012000Z ${location}`,
      redact,
    };
    const link = {
      file: at('plan.md'),
      bundleName: '20261126T012000Z',
      location,
      verdict: 'pass',
      date: '2026-11-26',
      redact,
    };
    for (const round of [1, 2]) {
      expect((await appendRehearsalLogEntry(log)).added).toBe(round === 1);
      expect((await linkBundleInPlan(link)).added).toBe(round === 1);
    }
    for (const file of ['Next_Steps_Log.md', 'plan.md']) {
      expect(await read(file)).not.toContain(SECRET);
      expect(await read(file)).toContain(`evidence-${MASK}`);
    }
  });
});
