import path from 'node:path';
import fs from 'fs-extra';
import { z } from 'zod';
import { type Bundle, writeChecksumManifest } from '../bundle/bundle.js';
import { digestBundle } from '../bundle/checksums.js';
import { DEPLOYMENT_FILE, manifestCopyOf } from '../bundle/files.js';
import { updateNotes } from '../bundle/notes.js';
import type { Summary } from '../bundle/summary.js';
import { saveSummary } from '../bundle/summary-io.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import { IN_TOTO_PAYLOAD_TYPE, sealEnvelope } from './dsse.js';
import type { SigningKey } from './keys.js';

export const ATTESTATION_FILE = 'attestation.intoto.jsonl';
const STATEMENT_TYPE = 'https://in-toto.io/Statement/v1';
const TEST_RESULT_PREDICATE = 'https://in-toto.io/attestation/test-result/v0.1';
export const SIGNING_KEY_ENV = 'REHEARSE_SIGNING_KEY_FILE';

const ResourceDescriptorSchema = z.object({
  name: z.string(),
  uri: z.string().optional(),
  digest: z.record(z.string(), z.string()).optional(),
  annotations: z.record(z.string(), z.unknown()).optional(),
});

const TestResultSchema = z.object({
  result: z.enum(['PASSED', 'WARNED', 'FAILED']),
  configuration: z.array(ResourceDescriptorSchema),
  passedTests: z.array(z.string()).default([]),
  warnedTests: z.array(z.string()).default([]),
  failedTests: z.array(z.string()).default([]),
});
export type TestResult = z.infer<typeof TestResultSchema>;

export const StatementSchema = z.object({
  _type: z.literal(STATEMENT_TYPE),
  subject: z.array(z.object({ name: z.string(), digest: z.object({ sha256: z.string() }) })),
  predicateType: z.literal(TEST_RESULT_PREDICATE),
  predicate: TestResultSchema,
});
export type Statement = z.infer<typeof StatementSchema>;

/** Only a pass is PASSED; what proves nothing either way (inconclusive, incomplete) is WARNED. */
export function resultOf(verdict: Summary['verdict']): TestResult['result'] {
  if (verdict === 'pass') return 'PASSED';
  return verdict === 'fail' ? 'FAILED' : 'WARNED';
}

const idsWith = (checks: Summary['checks'], verdict: string): string[] => [
  ...new Set(checks.filter((c) => c.verdict === verdict).map((c) => c.id)),
];

/** The test-result predicate of a settled summary; digests are of files in the bundle, by bundle path. */
function testResultOf(summary: Summary, digests: ReadonlyMap<string, string>): TestResult {
  const text = (value: unknown): string | undefined => (typeof value === 'string' && value ? value : undefined);
  const deployment = text(summary.target.deployment);
  const manifest = text(summary.target.manifest);
  const sha256 = (rel: string): { digest: { sha256: string } } | Record<string, never> => {
    const digest = digests.get(rel);
    return digest ? { digest: { sha256: digest } } : {};
  };
  const configuration: TestResult['configuration'] = [
    ...(deployment
      ? [
          {
            name: `deployment:${deployment}`,
            ...sha256(DEPLOYMENT_FILE),
            annotations: { workPool: summary.target.workPool ?? null, sandbox: summary.target.sandbox ?? null },
          },
        ]
      : []),
    ...(summary.prefect.apiUrl
      ? [
          {
            name: 'prefect-server',
            uri: summary.prefect.apiUrl,
            annotations: { version: summary.prefect.version ?? null },
          },
        ]
      : []),
    ...(manifest ? [{ name: `manifest:${manifest}`, ...sha256(manifestCopyOf(manifest)) }] : []),
  ];
  return {
    result: resultOf(summary.verdict),
    configuration,
    passedTests: idsWith(summary.checks, 'pass'),
    warnedTests: idsWith(summary.checks, 'inconclusive'),
    failedTests: idsWith(summary.checks, 'fail'),
  };
}

/** Every file in the bundle as a subject, except the attestation itself (SHA256SUMS and the lock never are). */
export async function buildStatement(dir: string, summary: Summary): Promise<Statement> {
  const digests = (await digestBundle(dir)).filter((d) => d.path !== ATTESTATION_FILE);
  return {
    _type: STATEMENT_TYPE,
    subject: digests.map((d) => ({ name: d.path, digest: { sha256: d.sha256 } })),
    predicateType: TEST_RESULT_PREDICATE,
    predicate: testResultOf(summary, new Map(digests.map((d) => [d.path, d.sha256]))),
  };
}

/** One line for the terminal: what the attestation is, and by which key (its id) it is signed. */
export function describeAttestation(summary: Summary): string {
  const claim = summary.attestation;
  if (!claim) return 'no attestation';
  return claim.signed
    ? `${ATTESTATION_FILE}: signed with the ${claim.keyType} key ${claim.keyid}`
    : `${ATTESTATION_FILE}: not signed (no --signing-key or ${SIGNING_KEY_ENV})`;
}

function attestationNote(attestation: NonNullable<Summary['attestation']>): string {
  const check = `Check it with \`rehearse verify <bundle> --key PUBLIC.pem\`.`;
  if (attestation.signed)
    return `Signed: \`${ATTESTATION_FILE}\` is an in-toto test-result statement over every file of this bundle, in a DSSE envelope signed with the ${attestation.keyType} key \`${attestation.keyid}\`. ${check}`;
  return `Not signed: no signing key was given (\`--signing-key FILE\` or \`${SIGNING_KEY_ENV}\`), so \`${ATTESTATION_FILE}\` holds the statement in a DSSE envelope with no signature; it does not show who wrote this bundle. Sign it with \`rehearse attest <bundle> --signing-key FILE\`.`;
}

/**
 * notes.md and summary.json first say whether the statement is signed, then the statement covers them,
 * then SHA256SUMS covers the statement: each file is final before the one that vouches for it is written.
 */
export async function attestBundle(
  bundle: Bundle,
  summary: Summary,
  now: Date,
  key?: SigningKey,
  /** Files drawn from notes.md and summary.json (the report): written once those are final, so the statement covers them. */
  beforeStatement?: () => Promise<void>,
): Promise<Summary> {
  const attestation = {
    file: ATTESTATION_FILE,
    signed: Boolean(key),
    ...(key ? { keyid: key.keyid, keyType: key.type } : {}),
  };
  await updateNotes(bundle, 'attestation', 'Attestation', attestationNote(attestation), now);
  const attested: Summary = { ...summary, attestation };
  await saveSummary(bundle, attested, now);
  await beforeStatement?.();
  const statement = await buildStatement(bundle.dir, attested);
  const envelope = sealEnvelope(Buffer.from(JSON.stringify(statement), 'utf8'), IN_TOTO_PAYLOAD_TYPE, key);
  await writeFileAtomic(path.join(bundle.dir, ATTESTATION_FILE), `${JSON.stringify(envelope)}\n`);
  await writeChecksumManifest(bundle);
  return attested;
}

/**
 * A command that changes a bundle takes back its statement first: until the command settles the bundle again,
 * no attestation vouches for files it is rewriting (a command that dies leaves none, never a stale one).
 */
export async function withdrawAttestation(bundle: Bundle, summary: Summary, now: Date): Promise<Summary> {
  const file = path.join(bundle.dir, ATTESTATION_FILE);
  if (!summary.attestation && !(await fs.pathExists(file))) return summary;
  await fs.remove(file);
  const body = `Withdrawn: the bundle is being changed, so no statement vouches for it until the command working in it settles it and writes a new \`${ATTESTATION_FILE}\`.`;
  await updateNotes(bundle, 'attestation', 'Attestation', body, now);
  const { attestation: _withdrawn, ...rest } = summary;
  return rest;
}
