import path from 'node:path';
import fs from 'fs-extra';
import { type Bundle, writeEvidenceJson } from '../bundle/bundle.js';
import { readEvidenceJson } from '../bundle/evidence-json.js';
import { FAULTS_FILE } from '../bundle/files.js';
import { table, updateNotes } from '../bundle/notes.js';
import type { Context } from '../context.js';
import { type FaultRecord, type FaultsFile, FaultsFileSchema } from '../guardrails/fault-record.js';

/** faults.json as the run step wrote it; undefined for a rehearsal without faults. */
export async function readFaultsFile(bundleDir: string): Promise<FaultsFile | undefined> {
  if (!(await fs.pathExists(path.join(bundleDir, FAULTS_FILE)))) return undefined;
  return readEvidenceJson(
    bundleDir,
    FAULTS_FILE,
    FaultsFileSchema,
    'rerun `rehearse run` on a new bundle (--new-bundle)',
  );
}

const cellOf = (record: FaultRecord): string[] => {
  const did = record.action
    ? record.action.stoppedPid !== undefined
      ? `server pid ${record.action.stoppedPid} stopped, ${record.action.backAt ? 'answering' : 'not answering'} again as pid ${record.action.restartedPid ?? '?'} after ${record.action.downSeconds ?? '?'} s`
      : record.action.apiStatus !== undefined
        ? `API ${record.action.apiStatus} (${record.action.state ?? '?'})`
        : record.action.killedPid !== undefined
          ? `SIGKILL pid ${record.action.killedPid}${record.action.restartedPid === undefined ? '' : `, back as pid ${record.action.restartedPid} after ${record.action.downSeconds} s`}`
          : `exit ${record.action.exitCode ?? '?'}${record.action.timedOut ? ' (deadline)' : ''}`
    : (record.reason ?? '');
  const waits = record.recovery?.queuedWaits.map(
    (w) =>
      `${w.run} ${w.waitedSeconds !== null ? `${w.waitedSeconds} s` : w.endedAs ? `ended ${w.endedAs}` : 'never started'}`,
  );
  return [
    record.kind === 'command' ? `command \`${record.command ?? ''}\`` : record.kind,
    record.moment,
    record.status,
    record.target?.name ?? '',
    record.injectedAt ?? '',
    did,
    record.recovery?.hitRunFinalState ??
      record.recovery?.touchedRunsEnded?.map((r) => `${r.run} ${r.state}`).join(', ') ??
      '',
    record.recovery?.secondsToFinal === undefined ? '' : `${record.recovery.secondsToFinal} s`,
    waits?.join(', ') ?? '',
  ];
};

/** faults.json and the notes' Faults section, written whole each time (validate rewrites them with the slots). */
export async function writeFaults(ctx: Context, bundle: Bundle, file: FaultsFile): Promise<string[]> {
  const rows = file.faults.map(cellOf);
  const slots = file.slotsReleased
    ? `\n\nSlots: ${file.slotsReleased.verdict}: ${file.slotsReleased.reason}` +
      `${file.slotsReleased.backWithinSeconds === undefined ? '' : ` (back within ${file.slotsReleased.backWithinSeconds} s of the first injection)`}`
    : '';
  const { rollback } = file;
  const restored =
    `\n\nRollback at ${rollback.at}: ${rollback.runsCancelled.length} leftover run(s) cancelled` +
    `${rollback.runsCancelled.map((r) => ` ${r.name} ${r.from} -> ${r.to}`).join(',')}; ` +
    `${rollback.slots.filter((s) => s.action === 'freed').length} limit(s) freed` +
    `${rollback.pending ? `; ${rollback.pending}` : ''}.`;
  const text =
    table(
      [
        'fault',
        'moment',
        'status',
        'target',
        'injected at',
        'did',
        'hit run ended',
        'final after',
        'queued runs waited',
      ],
      rows,
    ) +
    slots +
    restored;
  return [
    await writeEvidenceJson(bundle, FAULTS_FILE, file, ctx.now()),
    await updateNotes(bundle, 'faults', 'Faults', text, ctx.now()),
  ];
}
