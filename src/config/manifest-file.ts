import path from 'node:path';
import fs from 'fs-extra';
import { RehearseError } from '../errors.js';
import { type ExpectedGuardrails, expectedFromManifest, parseManifestText } from '../guardrails/manifest.js';

/** The project's deployment manifest, read from disk and judged by the pure guardrails/manifest.ts. */
export async function loadExpectedGuardrails(projectDir: string, manifestPath: string): Promise<ExpectedGuardrails> {
  const file = path.resolve(projectDir, manifestPath);
  if (!(await fs.pathExists(file))) {
    throw new RehearseError('CONFIG_INVALID', `manifest not found: ${file}`, {
      hint: 'run rehearse in the project checkout, or set "projectDir" / "manifest" in rehearse.config (or --project-dir / --manifest)',
    });
  }
  return expectedFromManifest(await parseManifestText(await fs.readFile(file, 'utf8'), manifestPath), manifestPath);
}
