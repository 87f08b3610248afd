import { NOTES_FILE } from '../bundle/notes.js';
import { SUMMARY_FILE, type Summary } from '../bundle/summary.js';
import { readBundleText } from './files.js';
import { inconsistent, type VerifyProblem } from './problem.js';

/** Statuses that say the rehearsal was cut short; none of them can pass. */
const CUT_SHORT = new Set<string>(['interrupted', 'abandoned']);

/** The rehearse-written sections of notes.md (never the operator's), by name. */
function noteSections(text: string): Map<string, string> {
  const sections = new Map<string, string>();
  for (const match of text.matchAll(/<!-- rehearse:([a-z-]+) -->([\s\S]*?)<!-- \/rehearse:\1 -->/g))
    sections.set(match[1]!, match[2]!);
  return sections;
}

/** The status must be what the step records and the notes say happened: an interruption is never complete. */
export async function checkStatus(dir: string, summary: Summary): Promise<VerifyProblem[]> {
  const problems: VerifyProblem[] = [];
  const { status } = summary;
  // The upload files a finished rehearsal; an interrupted upload leaves its evidence as it was.
  // A step that records an interruption was one, whatever its status was edited to.
  const cut = summary.steps.find(
    (s) =>
      s.name !== 'upload' &&
      (s.status === 'interrupted' || s.data?.interrupted === true || s.error?.code === 'INTERRUPTED'),
  );
  if (cut && !CUT_SHORT.has(status))
    problems.push(inconsistent(`status ${status}, but the ${cut.name} step was interrupted`, SUMMARY_FILE));
  if (summary.abandoned && status !== 'abandoned')
    problems.push(inconsistent(`status ${status}, but it records the command in it as abandoned`, SUMMARY_FILE));
  const notes = await readBundleText(dir, NOTES_FILE);
  if (notes === undefined) return problems;
  const sections = noteSections(notes);
  if (sections.has('abandoned') && status !== 'abandoned') {
    problems.push(
      inconsistent(`summary.json says ${status}, but notes.md records the rehearsal as abandoned`, NOTES_FILE),
    );
  } else if (!CUT_SHORT.has(status)) {
    // The verdict section quotes the checks' reasons; the steps' own sections say what happened to them.
    const said = [...sections].find(([name, body]) => name !== 'verdict' && /\binterrupted\b/i.test(body));
    if (said)
      problems.push(
        inconsistent(
          `summary.json says ${status}, but the ${said[0]} section of notes.md says the rehearsal was interrupted`,
          NOTES_FILE,
        ),
      );
  }
  return problems;
}
