import { createHash } from 'node:crypto';
import { z } from 'zod';
import { ATTESTATION_FILE, resultOf, type Statement, StatementSchema, type TestResult } from '../attest/attestation.js';
import {
  checkEnvelope,
  type DsseEnvelope,
  DsseEnvelopeSchema,
  decodeBase64,
  IN_TOTO_PAYLOAD_TYPE,
} from '../attest/dsse.js';
import type { VerifyingKey } from '../attest/keys.js';
import type { Summary } from '../bundle/summary.js';
import { settleVerdict } from '../bundle/summary-io.js';
import { readBundleFile, readBundleText } from './files.js';
import type { VerifyProblem } from './problem.js';

/** What verify found of the attestation: none, a statement nobody signed, one signed (checked against --key or not). */
export interface AttestationFinding {
  state: 'absent' | 'unsigned' | 'signed' | 'verified';
  keyids: string[];
  problems: VerifyProblem[];
}

const problem = (detail: string, path: string = ATTESTATION_FILE): VerifyProblem => ({
  kind: 'attestation',
  path,
  detail,
});

function parseEnvelopes(text: string): { envelopes: DsseEnvelope[]; problems: VerifyProblem[] } {
  const envelopes: DsseEnvelope[] = [];
  const problems: VerifyProblem[] = [];
  text.split('\n').forEach((line, index) => {
    if (line.trim() === '') return;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      problems.push(problem(`line ${index + 1} is not JSON`));
      return;
    }
    const parsed = DsseEnvelopeSchema.safeParse(value);
    if (parsed.success) envelopes.push(parsed.data);
    else problems.push(problem(`line ${index + 1} is not a DSSE envelope`));
  });
  if (envelopes.length === 0 && problems.length === 0) problems.push(problem('it holds no envelope'));
  return { envelopes, problems };
}

function readStatement(envelope: DsseEnvelope): { statement: Statement } | { problem: VerifyProblem } {
  if (envelope.payloadType !== IN_TOTO_PAYLOAD_TYPE)
    return { problem: problem(`payloadType is ${envelope.payloadType}, not ${IN_TOTO_PAYLOAD_TYPE}`) };
  const payload = decodeBase64(envelope.payload);
  if (!payload) return { problem: problem('its payload is not base64') };
  try {
    return { statement: StatementSchema.parse(JSON.parse(payload.toString('utf8'))) };
  } catch (error) {
    const what = error instanceof z.ZodError ? 'not an in-toto Statement v1 of a test result' : 'not JSON';
    return { problem: problem(`its payload is ${what}`) };
  }
}

/** With --key the statement must be signed by it: any envelope that verifies is the one judged. */
function pickEnvelope(
  envelopes: DsseEnvelope[],
  key: VerifyingKey | undefined,
): { envelope?: DsseEnvelope; problems: VerifyProblem[] } {
  if (!key) return { envelope: envelopes.at(-1), problems: [] };
  const checks = envelopes.map((envelope) => checkEnvelope(envelope, key));
  const verified = checks.findIndex((c) => c.outcome === 'verified');
  if (verified >= 0) return { envelope: envelopes[verified], problems: [] };
  const said = checks.map((check) => {
    if (check.outcome === 'unsigned') return `the statement is not signed, and --key needs a signature by ${key.keyid}`;
    if (check.outcome === 'other-key')
      return `signed by ${check.keyids.join(', ') || 'an unnamed key'}, not by the given key ${key.keyid}`;
    return `the signature does not verify with the given key ${key.keyid}: the statement or its signature was changed`;
  });
  return { envelope: envelopes.at(-1), problems: [...new Set(said)].map((detail) => problem(detail)) };
}

async function checkSubjects(dir: string, present: readonly string[], statement: Statement): Promise<VerifyProblem[]> {
  const named = new Set(statement.subject.map((s) => s.name));
  const found = await Promise.all(
    statement.subject.map(async ({ name, digest }) => {
      const bytes = await readBundleFile(dir, name);
      if (bytes === undefined) return problem('the attested statement names it, but it is not in the bundle', name);
      const actual = createHash('sha256').update(bytes).digest('hex');
      return actual === digest.sha256
        ? undefined
        : problem(
            `sha256 is ${actual}, the attested statement says ${digest.sha256}: changed since it was attested`,
            name,
          );
    }),
  );
  const unattested = present
    .filter((rel) => rel !== ATTESTATION_FILE && !named.has(rel))
    .map((rel) => problem('in the bundle but not in the attested statement: added after it was attested', rel));
  return [...found.filter((p): p is VerifyProblem => p !== undefined), ...unattested];
}

const sameIds = (a: readonly string[], b: readonly string[]): boolean =>
  JSON.stringify([...new Set(a)].sort()) === JSON.stringify([...new Set(b)].sort());

/** The statement's result and tests against the verdict verify recomputes from the steps' checks. */
function checkResult(statement: Statement, summary: Summary): VerifyProblem[] {
  const checks = summary.steps.flatMap((s) => s.checks);
  const verdict = settleVerdict({ ...summary, checks }, summary.status).verdict;
  const expected = resultOf(verdict);
  const { predicate } = statement;
  const problems: VerifyProblem[] = [];
  if (predicate.result !== expected)
    problems.push(
      problem(
        `the attested result is ${predicate.result}, but the evidence gives ${expected} (a ${summary.status} bundle whose checks give ${verdict})`,
      ),
    );
  const lists: [keyof TestResult & `${string}Tests`, string][] = [
    ['passedTests', 'pass'],
    ['warnedTests', 'inconclusive'],
    ['failedTests', 'fail'],
  ];
  for (const [field, wanted] of lists) {
    const ids = checks.filter((c) => c.verdict === wanted).map((c) => c.id);
    if (!sameIds(predicate[field], ids))
      problems.push(
        problem(
          `the attested ${field} are [${predicate[field].join(', ')}], the steps' checks give [${ids.join(', ')}]`,
        ),
      );
  }
  return problems;
}

function checkSummaryClaim(summary: Summary | undefined, envelope: DsseEnvelope): VerifyProblem[] {
  const claim = summary?.attestation;
  if (!claim?.signed) return [];
  if (envelope.signatures.length === 0)
    return [problem('summary.json says the attestation is signed, but its envelope holds no signature')];
  return envelope.signatures.some((s) => s.keyid === claim.keyid)
    ? []
    : [problem(`summary.json says it is signed by ${claim.keyid}, the envelope names another key`)];
}

/** Reads attestation.intoto.jsonl, if any, and holds it to the key, the files and the recomputed verdict. */
export async function checkAttestation(
  dir: string,
  present: readonly string[],
  summary: Summary | undefined,
  key?: VerifyingKey,
): Promise<AttestationFinding> {
  const text = await readBundleText(dir, ATTESTATION_FILE);
  if (text === undefined) {
    const problems = [
      ...(key ? [problem('the bundle has no attestation, so nothing is signed, and --key needs a signature')] : []),
      ...(summary?.attestation
        ? [problem('summary.json records an attestation, but the file is not in the bundle')]
        : []),
    ];
    return { state: 'absent', keyids: [], problems };
  }
  const parsed = parseEnvelopes(text);
  const picked = pickEnvelope(parsed.envelopes, key);
  const problems = [...parsed.problems, ...picked.problems];
  const { envelope } = picked;
  if (!envelope) return { state: 'unsigned', keyids: [], problems };
  const keyids = envelope.signatures.map((s) => s.keyid);
  const verified = key !== undefined && picked.problems.length === 0;
  const state = verified ? 'verified' : keyids.length ? 'signed' : 'unsigned';
  const read = readStatement(envelope);
  if ('problem' in read) return { state, keyids, problems: [...problems, read.problem] };
  problems.push(
    ...(await checkSubjects(dir, present, read.statement)),
    ...(summary ? checkResult(read.statement, summary) : []),
    ...checkSummaryClaim(summary, envelope),
  );
  return { state, keyids, problems };
}
