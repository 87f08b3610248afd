import path from 'node:path';
import fs from 'fs-extra';
import { loadExpectedGuardrails } from '../config/manifest-file.js';
import { RehearseError } from '../errors.js';
import { writeEvidence } from '../evidence/bundle.js';
import { DEPLOYMENT_FILE, manifestCopyOf } from '../evidence/files.js';
import { deviationsMarkdown, updateNotes } from '../evidence/notes.js';
import { type GlobalLimitLookup, judgeDeployment } from '../guardrails/deployment.js';
import { inspectDeploymentCommand } from '../prefect/commands.js';
import { INVALID_LIMIT_NAME } from '../prefect/fixes.js';
import { fullName, readDeployment, readGlobalLimit, resolveDeploymentName } from '../prefect/queries.js';
import { assertRan, cliOf, diffPaths, parseCliJson } from './prefect-cli.js';
import type { Step } from './step.js';

export { DEPLOYMENT_FILE };
export const INSPECT_LOG = 'deployment.inspect.log';
/**
 * Console markup eats `[tag]`-shaped text from strings: a value the CLI printed differently is
 * markup's doing only when the API's string has such a tag. Anything else differs because the two
 * reads were a moment apart (slots taken, `updated` moved on) and is no finding.
 */
const MARKUP_TAG = /\[[^\]\s]*\]/;

function valueAt(record: unknown, dotted: string): unknown {
  return dotted
    .split('.')
    .reduce<unknown>(
      (value, key) => (value && typeof value === 'object' ? (value as Record<string, unknown>)[key] : undefined),
      record,
    );
}

/** Paths whose value the CLI's console markup altered. */
function markupAltered(apiRecord: unknown, cliRecord: unknown): string[] {
  return diffPaths(apiRecord, cliRecord).filter((p) => {
    const value = valueAt(apiRecord, p);
    return typeof value === 'string' && MARKUP_TAG.test(value);
  });
}

/** Runbook step 2: export the live deployment and judge its guardrails against the manifest. */
export const inspectStep: Step = {
  name: 'inspect',
  title: 'inspect the deployment',
  // biome-ignore lint/complexity/noExcessiveLinesPerFunction: the step's flow reads top to bottom; it is split when the dry-run rule moves into the runner
  async run(ctx, bundle) {
    const expected = await loadExpectedGuardrails(ctx.prefect.projectDir, ctx.config.manifest);
    const ref = await resolveDeploymentName(ctx.api, ctx.config.deployment);
    const [cliResult, apiRecord] = await Promise.all([
      ctx.runner.run(inspectDeploymentCommand(cliOf(ctx), fullName(ref))),
      readDeployment(ctx.api, ref).then(
        (value) => ({ value }),
        (error: unknown) => ({ error }),
      ),
    ]);
    assertRan(cliResult, `prefect deployment inspect ${fullName(ref)}`);
    if ('error' in apiRecord) {
      // Keep what the CLI printed (often Prefect's own error text) before giving up.
      const file = await writeEvidence(bundle, INSPECT_LOG, cliResult.stdout + cliResult.stderr, ctx.now());
      const error = apiRecord.error;
      if (error instanceof RehearseError)
        throw new RehearseError(error.code, error.message, {
          details: error.details,
          ...(error.hint ? { hint: error.hint } : {}),
          data: { files: [file] },
        });
      throw error;
    }
    const record = apiRecord.value;
    const { deployment } = record;
    const key = deployment.parameters.concurrency_key;
    // The limit the manifest promises; a drifted key is its own check, so each breakage names one check.
    const limitName = expected.concurrencyKey ?? (typeof key === 'string' ? key : undefined);
    const lookup: GlobalLimitLookup =
      limitName === undefined
        ? { name: undefined }
        : {
            name: limitName,
            limit: INVALID_LIMIT_NAME.test(limitName) ? undefined : await readGlobalLimit(ctx.api, limitName),
          };
    const checks = judgeDeployment(expected, deployment, lookup);

    const now = ctx.now();
    const files = [
      // The API's bytes as they came (a masked secret aside): a reviewer can diff them with a GET of their own.
      await writeEvidence(bundle, DEPLOYMENT_FILE, record.raw, now),
    ];
    // The manifest as judged, so `rehearse verify` can judge the deployment again offline.
    const manifestText = await fs.readFile(path.resolve(ctx.prefect.projectDir, ctx.config.manifest), 'utf8');
    files.push(await writeEvidence(bundle, manifestCopyOf(ctx.config.manifest), manifestText, now));
    const cliNotes: string[] = [];
    const parsed = parseCliJson(cliResult);
    if (!parsed.ok) {
      cliNotes.push(
        `\`prefect deployment inspect\` ${parsed.reason}; its output is kept in ${INSPECT_LOG}, and ${DEPLOYMENT_FILE} holds the API's record.`,
      );
    } else {
      const { automations: _automations, ...cliRecord } = parsed.value as Record<string, unknown>;
      const changed = markupAltered(JSON.parse(record.raw), cliRecord);
      if (changed.length > 0)
        cliNotes.push(
          `\`prefect deployment inspect -o json\` altered ${changed.length} value(s) through its console markup (${changed.join(', ')}); ${DEPLOYMENT_FILE} holds the API's record, value for value, and the CLI's output is in ${INSPECT_LOG}.`,
        );
    }
    if (cliNotes.length > 0)
      files.push(await writeEvidence(bundle, INSPECT_LOG, cliResult.stdout + cliResult.stderr, now));
    const body = [
      `Deployment \`${fullName(ref)}\` (${deployment.id}) against \`${expected.source}\`.`,
      '',
      deviationsMarkdown(checks),
      ...(cliNotes.length ? ['', ...cliNotes] : []),
    ].join('\n');
    files.push(await updateNotes(bundle, 'inspect', 'Inspect: guardrail deviations', body, now));
    return {
      checks,
      files,
      data: {
        flow: ref.flow,
        deployment: ref.deployment,
        fullName: fullName(ref),
        deploymentId: deployment.id,
        workPool: deployment.work_pool_name ?? null,
        concurrencyKey: typeof key === 'string' ? key : null,
        deploymentLimit: deployment.global_concurrency_limit?.active ? deployment.global_concurrency_limit.limit : null,
      },
    };
  },
};
