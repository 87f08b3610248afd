import { z } from 'zod';
import type { SigningKey, VerifyingKey } from './keys.js';

/** DSSE v1 (github.com/secure-systems-lab/dsse): what is signed is PAE(payloadType, payload), never the JSON. */
export const IN_TOTO_PAYLOAD_TYPE = 'application/vnd.in-toto+json';

export const DsseEnvelopeSchema = z.object({
  payload: z.string(),
  payloadType: z.string(),
  signatures: z.array(z.object({ keyid: z.string().default(''), sig: z.string() })),
});
export type DsseEnvelope = z.infer<typeof DsseEnvelopeSchema>;

/** PAE: "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body, lengths in bytes as ASCII decimal. */
export function preAuthEncoding(payloadType: string, payload: Buffer): Buffer {
  const type = Buffer.from(payloadType, 'utf8');
  return Buffer.concat([
    Buffer.from(`DSSEv1 ${type.length} `, 'ascii'),
    type,
    Buffer.from(` ${payload.length} `, 'ascii'),
    payload,
  ]);
}

/** The payload in an envelope, signed when a key is given, with no signature otherwise. */
export function sealEnvelope(payload: Buffer, payloadType: string, key?: SigningKey): DsseEnvelope {
  const signatures = key
    ? [{ keyid: key.keyid, sig: key.sign(preAuthEncoding(payloadType, payload)).toString('base64') }]
    : [];
  return { payload: payload.toString('base64'), payloadType, signatures };
}

export type EnvelopeCheck =
  | { outcome: 'verified'; keyid: string }
  | { outcome: 'unsigned' }
  | { outcome: 'bad-signature'; keyid: string }
  | { outcome: 'other-key'; keyids: string[] };

/** Strict base64, so a changed character in the payload cannot decode to the same bytes. */
export function decodeBase64(text: string): Buffer | undefined {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4 !== 0) return undefined;
  const bytes = Buffer.from(text, 'base64');
  return bytes.toString('base64') === text ? bytes : undefined;
}

/**
 * Whether the key signed the envelope. Key ids are hints (DSSE leaves them unauthenticated): every signature
 * is tried, and the id only decides whether a failure reads as a bad signature or as another signer's.
 */
export function checkEnvelope(envelope: DsseEnvelope, key: VerifyingKey): EnvelopeCheck {
  if (envelope.signatures.length === 0) return { outcome: 'unsigned' };
  const payload = decodeBase64(envelope.payload);
  const pae = payload ? preAuthEncoding(envelope.payloadType, payload) : undefined;
  for (const signature of envelope.signatures) {
    const sig = decodeBase64(signature.sig);
    if (pae && sig && key.verify(pae, sig)) return { outcome: 'verified', keyid: key.keyid };
  }
  if (envelope.signatures.some((s) => s.keyid === key.keyid || s.keyid === ''))
    return { outcome: 'bad-signature', keyid: key.keyid };
  return { outcome: 'other-key', keyids: envelope.signatures.map((s) => s.keyid) };
}
