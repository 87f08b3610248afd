import { RehearseError } from '../errors.js';
import {
  acceptsString,
  arrayItemsOf,
  formatParameters,
  type JsonSchema,
  objectKeysOf,
  type ParameterSchema,
  readParameterSchema,
} from './parameter-schema.js';
import type { WindowConfig, WindowMode } from './window.js';

/**
 * The backfill window as flow parameters, chosen from what the deployment's own parameter
 * schema accepts, so a rehearsal never sends a parameter the flow would refuse.
 */

export const DEFAULT_RUN_VERSION = 'latest';

export interface WindowInput {
  deploymentName: string;
  /** The deployment's `parameter_openapi_schema`, as the API returns it. */
  parameterSchema: unknown;
  /** Defaults stored on the deployment: Prefect merges them under every run's parameters. */
  deploymentParameters: Record<string, unknown>;
  since: string;
  until: string;
  window?: WindowConfig | undefined;
  /** run.parameters and --param. */
  extra: Record<string, unknown>;
  drop?: string[] | undefined;
}

export interface WindowParameters {
  parameters: Record<string, unknown>;
  /** The mode used: `auto` resolves to one of the others. */
  mode: Exclude<WindowMode, 'auto'>;
  /** Things the operator should know (a dropped default the server will merge back, say). */
  notes: string[];
}

/** Every day from since to until, both included, as YYYY-MM-DD. */
export function daysOf(since: string, until: string): string[] {
  const days: string[] = [];
  const end = Date.parse(`${until}T00:00:00Z`);
  for (let t = Date.parse(`${since}T00:00:00Z`); t <= end; t += 86_400_000)
    days.push(new Date(t).toISOString().slice(0, 10));
  return days;
}

const FIXES = [
  "run.window.mode: template, with run.window.parameters holding the flow's parameters and {since}, {until} or {date} placeholders",
  'run.window.mode: none, to send no window (set the parameters in run.parameters)',
];

function cannotMap(input: WindowInput, schema: ParameterSchema | undefined, why: string, fixes = FIXES): RehearseError {
  return new RehearseError(
    'USAGE',
    `cannot pass the window ${input.since}..${input.until} to deployment ${input.deploymentName}: ${why}`,
    {
      details: [
        ...(schema ? ['it accepts:', ...formatParameters(schema).map((line) => `  ${line}`)] : []),
        'fix it in rehearse.config with one of:',
        ...fixes.map((fix) => `  ${fix}`),
      ],
      hint: 'see "The window and flow parameters" in the README; `rehearse init` writes a config that fits the deployment',
    },
  );
}

/** The `runs` parameter's item shape, if the flow takes a list of objects there. */
function runsItem(
  schema: ParameterSchema,
): { keys: string[]; open: boolean; defaults: Record<string, unknown> } | undefined {
  const node = schema.properties.runs;
  if (!node) return undefined;
  const shapes = arrayItemsOf(schema, node)
    .map(objectKeysOf)
    .filter((s) => s !== undefined);
  return shapes.find((s) => s.open || s.keys.includes('run_date'));
}

function chooseMode(input: WindowInput, schema: ParameterSchema | undefined): Exclude<WindowMode, 'auto'> {
  const wanted = input.window?.mode ?? 'auto';
  if (wanted !== 'auto') return wanted;
  // Without a schema nothing can be checked: keep the runbook's own parameters.
  if (!schema) return 'since-until';
  const { properties } = schema;
  if (properties.since && properties.until) return 'since-until';
  if (runsItem(schema)) return 'runs';
  throw cannotMap(input, schema, 'the flow takes neither since/until nor a runs list of {run_date, version}');
}

function mapSinceUntil(input: WindowInput, schema: ParameterSchema | undefined): Record<string, unknown> {
  if (schema) {
    const missing = ['since', 'until'].filter((name) => !schema.properties[name]);
    if (missing.length)
      throw cannotMap(
        input,
        schema,
        `run.window.mode is since-until but the flow has no ${missing.join(' or ')} parameter`,
      );
    const notText = ['since', 'until'].filter((name) => !acceptsString(schema, schema.properties[name] as JsonSchema));
    if (notText.length)
      throw cannotMap(input, schema, `the flow's ${notText.join(' and ')} do(es) not take a date string`);
  }
  return { since: input.since, until: input.until };
}

function mapRuns(
  input: WindowInput,
  schema: ParameterSchema | undefined,
): { parameters: Record<string, unknown>; notes: string[] } {
  const item = schema ? runsItem(schema) : { keys: [], open: true, defaults: {} };
  if (!item)
    throw cannotMap(
      input,
      schema,
      'run.window.mode is runs but the flow takes no runs list of objects with a run_date',
    );
  const withVersion = item.open || item.keys.includes('version');
  const fromSchema = item.defaults.version;
  const version = input.window?.version ?? (typeof fromSchema === 'string' ? fromSchema : DEFAULT_RUN_VERSION);
  const runs = daysOf(input.since, input.until).map((day) =>
    withVersion ? { run_date: day, version } : { run_date: day },
  );
  const notes =
    !withVersion && input.window?.version
      ? [`run.window.version is not sent: the flow's runs entries have no version field`]
      : [];
  return { parameters: { runs }, notes };
}

const PLACEHOLDER = /\{(since|until|date)\}/g;
const hasDate = (value: unknown): boolean => JSON.stringify(value)?.includes('{date}') ?? false;

/** Fills placeholders; a list item that mentions {date} is repeated once per day of the window. */
function fillTemplate(
  value: unknown,
  vars: { since: string; until: string; date?: string },
  days: string[],
  where: string,
): unknown {
  if (typeof value === 'string') {
    return value.replace(PLACEHOLDER, (_token, name: 'since' | 'until' | 'date') => {
      const filled = vars[name];
      if (filled === undefined) {
        throw new RehearseError('USAGE', `run.window.parameters.${where} uses {date} outside a list`, {
          hint: '{date} belongs in an item of a list, which is then repeated once per day, e.g. runs: [{run_date: "{date}"}]',
        });
      }
      return filled;
    });
  }
  if (Array.isArray(value)) {
    return value.flatMap((item, i) =>
      hasDate(item) && vars.date === undefined
        ? days.map((date) => fillTemplate(item, { ...vars, date }, days, `${where}[${i}]`))
        : [fillTemplate(item, vars, days, `${where}[${i}]`)],
    );
  }
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, fillTemplate(v, vars, days, `${where}.${k}`)]));
  }
  return value;
}

function refuseUnknown(
  input: WindowInput,
  schema: ParameterSchema | undefined,
  parameters: Record<string, unknown>,
): void {
  if (!schema) return;
  const unknown = Object.keys(parameters).filter((name) => !schema.properties[name]);
  if (unknown.length === 0) return;
  throw new RehearseError(
    'USAGE',
    `deployment ${input.deploymentName} does not accept parameter(s) ${unknown.join(', ')}`,
    {
      details: [`it accepts: ${Object.keys(schema.properties).join(', ')}`],
      hint: `remove ${unknown.join(', ')} from run.parameters, run.window.parameters or --param, or list it in run.drop`,
    },
  );
}

/** The parameters a rehearsal run sends: the window, mapped as the flow accepts it, plus run.parameters, minus run.drop. */
export function buildWindowParameters(input: WindowInput): WindowParameters {
  const schema = readParameterSchema(input.parameterSchema);
  const mode = chooseMode(input, schema);
  const notes = schema
    ? []
    : [`deployment ${input.deploymentName} lists no parameter schema: the parameters are sent unchecked`];
  let window: Record<string, unknown> = {};
  if (mode === 'since-until') window = mapSinceUntil(input, schema);
  if (mode === 'runs') {
    const runs = mapRuns(input, schema);
    window = runs.parameters;
    notes.push(...runs.notes);
  }
  if (mode === 'template') {
    const days = daysOf(input.since, input.until);
    window = fillTemplate(
      input.window?.parameters ?? {},
      { since: input.since, until: input.until },
      days,
      'parameters',
    ) as Record<string, unknown>;
  }
  const drop = new Set(input.drop ?? []);
  const clash = Object.keys(input.extra).filter((name) => name in window && !drop.has(name));
  if (clash.length) {
    throw new RehearseError(
      'USAGE',
      `run.parameters (or --param) sets ${clash.join(', ')}, which the window already sets (mode ${mode})`,
      {
        hint: 'remove it from run.parameters, or set run.window.mode: none and pass every parameter yourself',
      },
    );
  }
  const parameters = Object.fromEntries(
    Object.entries({ ...window, ...input.extra }).filter(([name]) => !drop.has(name)),
  );
  for (const name of drop) {
    if (name in input.deploymentParameters) {
      notes.push(
        `run.drop ${name}: the deployment stores a default for it, which Prefect merges into every run; change the deployment to remove it`,
      );
    }
  }
  refuseUnknown(input, schema, parameters);
  if (schema) {
    const missing = schema.required.filter((name) => !(name in parameters) && !(name in input.deploymentParameters));
    if (missing.length) {
      throw cannotMap(
        input,
        schema,
        `the flow requires ${missing.join(', ')}, which neither the deployment's defaults nor rehearse supply`,
        [
          `run.parameters: {${missing.map((name) => `${name}: ...`).join(', ')}}`,
          ...(mode === 'none' || mode === 'template' ? [] : FIXES),
        ],
      );
    }
  }
  return { parameters, mode, notes };
}
