import path from 'node:path';
import fs from 'fs-extra';
import { type Bundle, writeEvidence } from '../../bundle/bundle.js';
import { DEPLOYMENT_FILE, manifestCopyOf } from '../../bundle/files.js';
import { deviationsMarkdown, updateNotes } from '../../bundle/notes.js';
import type { StepDataInput } from '../../bundle/step-data.js';
import { loadExpectedGuardrails } from '../../config/manifest-file.js';
import type { Context } from '../../context.js';
import { RehearseError } from '../../errors.js';
import { type GlobalLimitLookup, judgeDeployment } from '../../guardrails/deployment.js';
import { inspectDeploymentCommand } from '../../prefect/commands.js';
import { INVALID_LIMIT_NAME } from '../../prefect/fixes.js';
import {
  type DeploymentRef,
  fullName,
  readDeployment,
  readGlobalLimit,
  resolveDeploymentName,
} from '../../prefect/queries.js';
import type { ProcessResult } from '../../process/command.js';
import { assertRan, cliOf, diffPaths, parseCliJson } from '../prefect-cli.js';
import type { Step } from '../step.js';

export { DEPLOYMENT_FILE };
export const INSPECT_LOG = 'deployment.inspect.log';
/**
 * What the CLI's rich console rewrites inside strings: `[tag]`-shaped text (taken for a style), an emoji
 * shortcode (`:ok:` becomes 🆗) and a backslash (its escape character, which can break the JSON outright).
 * A value the CLI printed differently is markup's doing only when the API's string holds such text.
 * Anything else differs because the two reads were a moment apart (slots taken, `updated` moved on) and is
 * no finding. A shortcode needs a letter: `12:30:45` is a time, not an emoji.
 */
const MARKUP_TEXT = /\[[^\]\s]*\]|:[a-z0-9_+-]*[a-z][a-z0-9_+-]*:|\\/;

function valueAt(record: unknown, dotted: string): unknown {
  return dotted
    .split('.')
    .reduce<unknown>(
      (value, key) => (value && typeof value === 'object' ? (value as Record<string, unknown>)[key] : undefined),
      record,
    );
}

const holdsMarkup = (value: unknown): boolean => typeof value === 'string' && MARKUP_TEXT.test(value);

/** Paths whose value the CLI's console markup altered. */
function markupAltered(apiRecord: unknown, cliRecord: unknown): string[] {
  return diffPaths(apiRecord, cliRecord).filter((p) => holdsMarkup(valueAt(apiRecord, p)));
}

/** Paths of the API's strings that hold text the console rewrites: the suspects when the CLI printed no JSON at all. */
function markupSuspects(value: unknown, prefix = '', out: string[] = []): string[] {
  if (out.length >= 20) return out;
  if (holdsMarkup(value)) out.push(prefix || '(root)');
  else if (value && typeof value === 'object') {
    for (const [key, item] of Object.entries(value)) markupSuspects(item, prefix ? `${prefix}.${key}` : key, out);
  }
  return out;
}

/** The notes' line for a CLI that printed no usable JSON, naming the values its markup may have broken. */
function unparsedNote(reason: string, exitCode: number | null, apiRecord: unknown): string {
  const suspects = exitCode === 0 ? markupSuspects(apiRecord) : [];
  const blamed = suspects.length
    ? ` (its console markup rewrites text in ${suspects.join(', ')}, which can break the JSON around it)`
    : '';
  return `\`prefect deployment inspect\` ${reason}${blamed}; its output is kept in ${INSPECT_LOG}, and ${DEPLOYMENT_FILE} holds the API's record.`;
}

/**
 * `prefect deployment inspect` and the API's record of the same deployment, read side by side. When the API
 * cannot be read, what the CLI printed (often Prefect's own error text) is kept in the bundle before giving up.
 */
async function readDeploymentTwice(ctx: Context, bundle: Bundle, ref: DeploymentRef) {
  const [cliResult, apiRecord] = await Promise.all([
    ctx.runner.run(inspectDeploymentCommand(cliOf(ctx), fullName(ref))),
    readDeployment(ctx.api, ref).then(
      (value) => ({ value }),
      (error: unknown) => ({ error }),
    ),
  ]);
  assertRan(cliResult, `prefect deployment inspect ${fullName(ref)}`);
  if (!('error' in apiRecord)) return { cliResult, record: apiRecord.value };
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

/** The global limit the manifest promises (a drifted key is its own check, so each breakage names one check). */
async function keyLimitLookup(ctx: Context, manifestKey: string | undefined, key: unknown): Promise<GlobalLimitLookup> {
  const limitName = manifestKey ?? (typeof key === 'string' ? key : undefined);
  if (limitName === undefined) return { name: undefined };
  return {
    name: limitName,
    limit: INVALID_LIMIT_NAME.test(limitName) ? undefined : await readGlobalLimit(ctx.api, limitName),
  };
}

/** What the CLI's JSON got wrong against the API's record: unparsable, or values its console markup altered. */
function cliNotesFor(cliResult: ProcessResult, raw: string): string[] {
  const parsed = parseCliJson(cliResult);
  if (!parsed.ok) return [unparsedNote(parsed.reason, cliResult.exitCode, JSON.parse(raw))];
  const { automations: _automations, ...cliRecord } = parsed.value as Record<string, unknown>;
  const changed = markupAltered(JSON.parse(raw), cliRecord);
  if (changed.length === 0) return [];
  return [
    `\`prefect deployment inspect -o json\` altered ${changed.length} value(s) through its console markup (${changed.join(', ')}); ${DEPLOYMENT_FILE} holds the API's record, value for value, and the CLI's output is in ${INSPECT_LOG}.`,
  ];
}

/** Runbook step 2: export the live deployment and judge its guardrails against the manifest. */
export const inspectStep: Step = {
  name: 'inspect',
  title: 'inspect the deployment',
  async run(ctx, bundle) {
    const expected = await loadExpectedGuardrails(ctx.prefect.projectDir, ctx.config.manifest);
    const ref = await resolveDeploymentName(ctx.api, ctx.config.deployment);
    const { cliResult, record } = await readDeploymentTwice(ctx, bundle, ref);
    const { deployment } = record;
    const key = deployment.parameters.concurrency_key;
    const lookup = await keyLimitLookup(ctx, expected.concurrencyKey, key);
    const checks = judgeDeployment(expected, deployment, lookup, ctx.config.prefect.command);

    const now = ctx.now();
    const files = [
      // The API's bytes as they came (a masked secret aside): a reviewer can diff them with a GET of their own.
      await writeEvidence(bundle, DEPLOYMENT_FILE, record.raw, now),
    ];
    // The manifest as judged, so `rehearse verify` can judge the deployment again offline.
    const manifestText = await fs.readFile(path.resolve(ctx.prefect.projectDir, ctx.config.manifest), 'utf8');
    files.push(await writeEvidence(bundle, manifestCopyOf(ctx.config.manifest), manifestText, now));
    const cliNotes = cliNotesFor(cliResult, record.raw);
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
      } satisfies StepDataInput<'inspect'>,
    };
  },
};
