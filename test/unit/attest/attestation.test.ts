import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fs from 'fs-extra';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  ATTESTATION_FILE,
  attestBundle,
  buildStatement,
  resultOf,
  type Statement,
  StatementSchema,
  withdrawAttestation,
} from '../../../src/attest/attestation.js';
import { type DsseEnvelope, IN_TOTO_PAYLOAD_TYPE, sealEnvelope } from '../../../src/attest/dsse.js';
import {
  generateKeyPair,
  type KeyType,
  loadSigningKey,
  loadVerifyingKey,
  type SigningKey,
  type VerifyingKey,
} from '../../../src/attest/keys.js';
import { type Bundle, readSummary } from '../../../src/bundle/bundle.js';
import { CHECKSUM_FILE, digestBundle, formatChecksums, parseChecksums } from '../../../src/bundle/checksums.js';
import type { StepName, Summary } from '../../../src/bundle/summary.js';
import { runSteps } from '../../../src/steps/runner.js';
import type { Step } from '../../../src/steps/step.js';
import { verifyBundle } from '../../../src/verify/verify.js';
import { createTestContext } from '../../support/context.js';
import { createFakeApi } from '../../support/fake-api.js';
import { createFakeRunner } from '../../support/fake-runner.js';

const repo = path.resolve(import.meta.dirname, '..', '..', '..');
/** A real, complete, passing bundle made by `rehearse backfill --sandbox --burst 3` (limit 2, peak 2). */
const FIXTURE = path.join(repo, 'fixtures/bundles/complete');
const NOW = new Date('2026-11-26T01:40:00Z');

let work: string;
let bundle: Bundle;
beforeEach(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'rehearse-attest-'));
  bundle = { dir: path.join(work, '20261126T013217Z'), name: '20261126T013217Z', redact: (t) => t };
  await fs.copy(FIXTURE, bundle.dir);
});
afterEach(async () => {
  await rm(work, { recursive: true, force: true });
});

async function keyPair(
  type: KeyType = 'ed25519',
  name = 'key',
): Promise<{ signer: SigningKey; verifier: VerifyingKey }> {
  const pair = generateKeyPair(type);
  const keys = await mkdtemp(path.join(tmpdir(), 'rehearse-keys-'));
  await writeFile(path.join(keys, `${name}.pem`), pair.privatePem);
  await writeFile(path.join(keys, `${name}.pub.pem`), pair.publicPem);
  const loaded = {
    signer: await loadSigningKey(path.join(keys, `${name}.pem`)),
    verifier: await loadVerifyingKey(path.join(keys, `${name}.pub.pem`)),
  };
  await rm(keys, { recursive: true, force: true });
  return loaded;
}

async function attest(key?: SigningKey): Promise<Summary> {
  const summary = await readSummary(bundle.dir);
  if (!summary) throw new Error('the fixture has no summary');
  return attestBundle(bundle, summary, NOW, key);
}

const file = (rel: string) => path.join(bundle.dir, rel);
const reseal = async () => writeFile(file(CHECKSUM_FILE), formatChecksums(await digestBundle(bundle.dir)));
const envelopeOf = async (): Promise<DsseEnvelope> => JSON.parse(await readFile(file(ATTESTATION_FILE), 'utf8'));
const statementOf = (envelope: DsseEnvelope): Statement =>
  StatementSchema.parse(JSON.parse(Buffer.from(envelope.payload, 'base64').toString('utf8')));
const attestationProblems = async (key?: VerifyingKey) =>
  (await verifyBundle(bundle.dir, key ? { key } : {})).problems.map((p) => [p.kind, p.path, p.detail]);

describe('the attestation of a bundle', () => {
  it.each<KeyType>(['ed25519', 'ecdsa-p256'])(
    'is a signed in-toto test-result statement over every file, which verify --key accepts (%s)',
    async (type) => {
      const { signer, verifier } = await keyPair(type);
      const summary = await attest(signer);
      expect(summary.attestation).toEqual({ file: ATTESTATION_FILE, signed: true, keyid: signer.keyid, keyType: type });

      const text = await readFile(file(ATTESTATION_FILE), 'utf8');
      expect(text.trimEnd().split('\n')).toHaveLength(1);
      const envelope = JSON.parse(text) as DsseEnvelope;
      expect(envelope.payloadType).toBe(IN_TOTO_PAYLOAD_TYPE);
      expect(envelope.signatures.map((s) => s.keyid)).toEqual([signer.keyid]);
      const statement = statementOf(envelope);
      const files = (await digestBundle(bundle.dir)).filter((d) => d.path !== ATTESTATION_FILE);
      expect(statement.subject).toEqual(files.map((d) => ({ name: d.path, digest: { sha256: d.sha256 } })));
      expect(statement.subject.map((s) => s.name)).toEqual(expect.arrayContaining(['summary.json', 'notes.md']));
      expect(statement.subject.map((s) => s.name)).not.toContain(CHECKSUM_FILE);
      expect(statement.predicate).toMatchObject({
        result: 'PASSED',
        warnedTests: [],
        failedTests: [],
        configuration: [
          { name: 'deployment:hotpass-backfill', digest: { sha256: expect.stringMatching(/^[0-9a-f]{64}$/) } },
          { name: 'prefect-server', uri: 'http://127.0.0.1:41107/api', annotations: { version: '3.9.1' } },
          { name: 'manifest:prefect/deployments/hotpass-backfill.yaml' },
        ],
      });
      expect(statement.predicate.passedTests).toContain('concurrency.global_limit');
      expect(parseChecksums(await readFile(file(CHECKSUM_FILE), 'utf8')).has(ATTESTATION_FILE)).toBe(true);
      expect(await readFile(file('notes.md'), 'utf8')).toContain(`signed with the ${type} key \`${signer.keyid}\``);

      const report = await verifyBundle(bundle.dir, { key: verifier });
      expect(report.problems).toEqual([]);
      expect(report.attestation).toEqual({ state: 'verified', keyids: [signer.keyid] });
    },
  );

  it('without a key is written unsigned, says so, and fails verify --key', async () => {
    const summary = await attest();
    expect(summary.attestation).toEqual({ file: ATTESTATION_FILE, signed: false });
    expect((await envelopeOf()).signatures).toEqual([]);
    expect(await readFile(file('notes.md'), 'utf8')).toContain('Not signed: no signing key was given');
    const report = await verifyBundle(bundle.dir);
    expect(report).toMatchObject({ ok: true, attestation: { state: 'unsigned', keyids: [] } });

    const { verifier } = await keyPair();
    expect(await attestationProblems(verifier)).toEqual([
      ['attestation', ATTESTATION_FILE, expect.stringContaining('the statement is not signed')],
    ]);
  });

  it('a bundle with no attestation fails verify --key and passes plain verify', async () => {
    const { verifier } = await keyPair();
    expect(await attestationProblems()).toEqual([]);
    expect(await attestationProblems(verifier)).toEqual([
      ['attestation', ATTESTATION_FILE, expect.stringContaining('no attestation')],
    ]);
  });

  it('one changed byte in an evidence file fails verify --key naming the file, even with SHA256SUMS recomputed', async () => {
    const { signer, verifier } = await keyPair('ecdsa-p256');
    await attest(signer);
    // A file no other check reads: verify also judges work-pool.json again, and would name it twice.
    const bytes = await readFile(file('render.log'));
    bytes.writeUInt8(bytes.readUInt8(10) ^ 1, 10);
    await writeFile(file('render.log'), bytes);
    await reseal();
    expect(await attestationProblems(verifier)).toEqual([
      ['attestation', 'render.log', expect.stringContaining('changed since it was attested')],
    ]);
  });

  it('one changed byte in the statement breaks the signature', async () => {
    const { signer, verifier } = await keyPair();
    await attest(signer);
    const envelope = await envelopeOf();
    const payload = Buffer.from(envelope.payload, 'base64');
    const at = payload.indexOf('"PASSED"') + 1;
    payload[at] = 'Q'.charCodeAt(0);
    await writeFile(
      file(ATTESTATION_FILE),
      `${JSON.stringify({ ...envelope, payload: payload.toString('base64') })}\n`,
    );
    await reseal();
    expect(await attestationProblems(verifier)).toContainEqual([
      'attestation',
      ATTESTATION_FILE,
      expect.stringContaining('the signature does not verify with the given key'),
    ]);
  });

  it('a changed verdict fails verify --key naming summary.json, even with SHA256SUMS recomputed', async () => {
    const { signer, verifier } = await keyPair();
    await attest(signer);
    const summary = JSON.parse(await readFile(file('summary.json'), 'utf8')) as Summary;
    // The whole story told again, consistently: one check, its step and the verdict all say fail.
    const validate = summary.steps.find((s) => s.name === 'validate');
    const check = validate?.checks.find((c) => c.id === 'concurrency.global_limit');
    if (!validate || !check) throw new Error('the fixture has no global-limit check');
    check.verdict = 'fail';
    validate.verdict = 'fail';
    summary.checks = summary.steps.flatMap((s) => s.checks);
    summary.verdict = 'fail';
    summary.exitCode = 1;
    await writeFile(file('summary.json'), `${JSON.stringify(summary, null, 2)}\n`);
    await reseal();
    const problems = await attestationProblems(verifier);
    expect(problems).toContainEqual([
      'attestation',
      'summary.json',
      expect.stringContaining('changed since it was attested'),
    ]);
    expect(problems).toContainEqual([
      'attestation',
      ATTESTATION_FILE,
      expect.stringContaining('the attested result is PASSED, but the evidence gives FAILED'),
    ]);
  });

  it('a statement signed with the right key whose result is not the evidence fails naming the result', async () => {
    const { signer, verifier } = await keyPair();
    const summary = await attest(signer);
    const statement = await buildStatement(bundle.dir, summary);
    const forged = { ...statement, predicate: { ...statement.predicate, result: 'FAILED' as const } };
    const envelope = sealEnvelope(Buffer.from(JSON.stringify(forged)), IN_TOTO_PAYLOAD_TYPE, signer);
    await writeFile(file(ATTESTATION_FILE), `${JSON.stringify(envelope)}\n`);
    await reseal();
    expect(await attestationProblems(verifier)).toEqual([
      [
        'attestation',
        ATTESTATION_FILE,
        expect.stringContaining('the attested result is FAILED, but the evidence gives PASSED'),
      ],
    ]);
  });

  it("another signer's statement and a file added afterwards are both named", async () => {
    const mine = await keyPair('ed25519', 'mine');
    const theirs = await keyPair('ed25519', 'theirs');
    await attest(theirs.signer);
    await writeFile(file('extra.txt'), 'added later\n');
    await reseal();
    expect(await attestationProblems(mine.verifier)).toEqual([
      [
        'attestation',
        ATTESTATION_FILE,
        `signed by ${theirs.signer.keyid}, not by the given key ${mine.verifier.keyid}`,
      ],
      ['attestation', 'extra.txt', expect.stringContaining('added after it was attested')],
    ]);
  });

  it('is withdrawn while a command changes the bundle, and written again when the runner settles it', async () => {
    const { signer, verifier } = await keyPair();
    const summary = await attest(signer);
    const seen: boolean[] = [];
    const step = (name: StepName): Step => ({
      name,
      title: name,
      run: async () => {
        seen.push(await fs.pathExists(file(ATTESTATION_FILE)));
        return { checks: [], files: [] };
      },
    });
    const ctx = createTestContext({ runner: createFakeRunner([]), api: createFakeApi({}), now: () => NOW, cwd: work });
    const outcome = await runSteps(ctx, bundle, [step('preflight'), step('upload')], summary, {
      wholeRehearsal: false,
      existingBundle: true,
      attest: (b, s) => attestBundle(b, s, NOW, signer),
    });
    expect(seen).toEqual([true, false]);
    expect(outcome.summary.attestation).toMatchObject({ signed: true, keyid: signer.keyid });
    const report = await verifyBundle(bundle.dir, { key: verifier });
    expect(report.attestation).toEqual({ state: 'verified', keyids: [signer.keyid] });
    expect(report.problems.filter((p) => p.kind === 'attestation')).toEqual([]);

    const withdrawn = await withdrawAttestation(bundle, outcome.summary, NOW);
    expect(withdrawn.attestation).toBeUndefined();
    expect(await fs.pathExists(file(ATTESTATION_FILE))).toBe(false);
    expect(await readFile(file('notes.md'), 'utf8')).toContain('Withdrawn: the bundle is being changed');
  });

  it('maps verdicts to test results: only a pass is PASSED, what proves nothing is WARNED', () => {
    expect(['pass', 'fail', 'inconclusive', 'incomplete'].map((v) => resultOf(v as Summary['verdict']))).toEqual([
      'PASSED',
      'FAILED',
      'WARNED',
      'WARNED',
    ]);
  });
});
