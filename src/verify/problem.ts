import { z } from 'zod';
import { messageOf } from '../errors.js';
import { formatIssues } from '../util/zod-issues.js';

/** What `rehearse verify` finds wrong with a bundle: each of its checks reports these. */
type VerifyProblemKind =
  | 'missing'
  | 'changed'
  | 'unlisted'
  | 'no-manifest'
  | 'summary-invalid'
  | 'inconsistent'
  | 'not-regular'
  | 'outside'
  | 'attestation';
export interface VerifyProblem {
  kind: VerifyProblemKind;
  path?: string;
  detail: string;
}

/** A verdict, figure or file the bundle's own evidence does not bear out. */
export const inconsistent = (detail: string, file?: string): VerifyProblem => ({
  kind: 'inconsistent',
  ...(file ? { path: file } : {}),
  detail,
});

/** Why a bundle file could not be read: its schema's first issues, or the error's message. */
export const errorText = (error: unknown): string =>
  error instanceof z.ZodError ? formatIssues(error.issues).slice(0, 3).join('; ') : messageOf(error);
