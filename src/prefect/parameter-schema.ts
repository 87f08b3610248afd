/**
 * Reading a deployment's `parameter_openapi_schema` as Prefect writes it: one property per
 * flow parameter, optional ones as `anyOf: [T, {type: null}]`, pydantic models behind
 * `$ref: '#/definitions/Model'` (or `#/$defs/`), `required` for parameters without a default.
 */

export type JsonSchema = Record<string, unknown>;

export interface ParameterSchema {
  properties: Record<string, JsonSchema>;
  required: string[];
  /** Where `$ref`s point: `definitions` and `$defs` of the whole schema. */
  definitions: Record<string, JsonSchema>;
}

export interface ParameterInfo {
  name: string;
  /** e.g. `string`, `list[object]`, `list[BackfillRun{run_date, version}] | null`. */
  type: string;
  required: boolean;
  default?: unknown;
}

const isObject = (value: unknown): value is JsonSchema =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * Parameter names in the flow's signature order. Prefect records each one's `position`; a server
 * on PostgreSQL keeps the schema as JSONB, which does not keep the keys in their order.
 */
export function parameterNames(properties: Record<string, unknown>): string[] {
  const position = (name: string): number => {
    const value = properties[name];
    const at = isObject(value) ? value.position : undefined;
    return typeof at === 'number' ? at : Number.MAX_SAFE_INTEGER;
  };
  return Object.keys(properties).sort((a, b) => position(a) - position(b) || a.localeCompare(b));
}

/**
 * undefined when the deployment carries no schema, or one listing no parameter (what a deployment
 * registered without its flow gets): then nothing can be checked.
 */
export function readParameterSchema(raw: unknown): ParameterSchema | undefined {
  if (!isObject(raw) || !isObject(raw.properties) || Object.keys(raw.properties).length === 0) return undefined;
  const given = raw.properties;
  const properties = Object.fromEntries(
    parameterNames(given).map((k) => [k, isObject(given[k]) ? (given[k] as JsonSchema) : {}]),
  );
  const required = Array.isArray(raw.required) ? raw.required.filter((r): r is string => typeof r === 'string') : [];
  const definitions: Record<string, JsonSchema> = {};
  for (const key of ['definitions', '$defs']) {
    const defs = raw[key];
    if (isObject(defs)) for (const [name, def] of Object.entries(defs)) if (isObject(def)) definitions[name] = def;
  }
  return { properties, required, definitions };
}

/** Follows `$ref` (a few hops at most, so a self-referencing model cannot loop). */
function resolveRef(schema: ParameterSchema, node: JsonSchema): JsonSchema {
  let current = node;
  for (let hops = 0; hops < 8 && typeof current.$ref === 'string'; hops += 1) {
    const name = current.$ref.replace(/^#\/(definitions|\$defs)\//, '');
    const target = schema.definitions[name];
    if (!target) return current;
    current = target;
  }
  return current;
}

/** The alternatives a value may take: the branches of anyOf/oneOf, else the node itself. */
function branchesOf(schema: ParameterSchema, node: JsonSchema): JsonSchema[] {
  const resolved = resolveRef(schema, node);
  const alternatives = [resolved.anyOf, resolved.oneOf].find(Array.isArray) as unknown[] | undefined;
  if (!alternatives) return [resolved];
  return alternatives.filter(isObject).flatMap((branch) => branchesOf(schema, branch));
}

const typesOf = (node: JsonSchema): string[] =>
  Array.isArray(node.type) ? node.type.map(String) : typeof node.type === 'string' ? [node.type] : [];

/** The item schemas of every array alternative of a parameter. */
export function arrayItemsOf(schema: ParameterSchema, node: JsonSchema): JsonSchema[] {
  return branchesOf(schema, node)
    .filter((branch) => typesOf(branch).includes('array') || branch.items !== undefined)
    .map((branch) => (isObject(branch.items) ? resolveRef(schema, branch.items) : {}));
}

/** True when a string value validates: a string alternative, or no type constraint at all. */
export function acceptsString(schema: ParameterSchema, node: JsonSchema): boolean {
  return branchesOf(schema, node).some((branch) => {
    const types = typesOf(branch);
    return types.length === 0 ? branch.enum === undefined && branch.const === undefined : types.includes('string');
  });
}

/** An object item's own property names, or undefined when it takes any keys. */
export function objectKeysOf(
  item: JsonSchema,
): { keys: string[]; open: boolean; defaults: Record<string, unknown> } | undefined {
  const types = typesOf(item);
  if (types.length > 0 && !types.includes('object')) return undefined;
  const properties = isObject(item.properties) ? item.properties : {};
  const defaults = Object.fromEntries(
    Object.entries(properties)
      .filter(([, p]) => isObject(p) && 'default' in p)
      .map(([k, p]) => [k, (p as JsonSchema).default]),
  );
  return {
    keys: Object.keys(properties),
    open: item.additionalProperties !== false && Object.keys(properties).length === 0,
    defaults,
  };
}

function describeNode(schema: ParameterSchema, node: JsonSchema, depth = 0): string {
  const named = typeof node.$ref === 'string' ? node.$ref.replace(/^#\/(definitions|\$defs)\//, '') : undefined;
  const resolved = resolveRef(schema, node);
  const alternatives = [resolved.anyOf, resolved.oneOf].find(Array.isArray) as unknown[] | undefined;
  if (alternatives && depth < 4)
    return alternatives
      .filter(isObject)
      .map((b) => describeNode(schema, b, depth + 1))
      .join(' | ');
  const types = typesOf(resolved);
  if (types.includes('array')) {
    return `list[${isObject(resolved.items) ? describeNode(schema, resolved.items, depth + 1) : 'any'}]`;
  }
  if (named || (types.includes('object') && isObject(resolved.properties))) {
    const keys = isObject(resolved.properties) ? Object.keys(resolved.properties) : [];
    return `${named ?? 'object'}${keys.length ? `{${keys.join(', ')}}` : ''}`;
  }
  if (types.length === 0)
    return Array.isArray(resolved.enum) ? resolved.enum.map((v) => JSON.stringify(v)).join(' | ') : 'any';
  const format = typeof resolved.format === 'string' ? ` (${resolved.format})` : '';
  return `${types.join(' | ')}${format}`;
}

/** Every parameter the flow accepts, in the flow's own order. */
export function describeParameters(schema: ParameterSchema): ParameterInfo[] {
  const entries = Object.entries(schema.properties);
  const position = (node: JsonSchema): number =>
    typeof node.position === 'number' ? node.position : Number.MAX_SAFE_INTEGER;
  return entries
    .map(([name, node], index) => ({ name, node, index }))
    .sort((a, b) => position(a.node) - position(b.node) || a.index - b.index)
    .map(({ name, node }) => ({
      name,
      type: describeNode(schema, node),
      required: schema.required.includes(name),
      ...('default' in node ? { default: node.default } : {}),
    }));
}

/** `runs: list[object] (required), archive_root: string = "dist"`: one line per parameter, for messages. */
export function formatParameters(schema: ParameterSchema): string[] {
  return describeParameters(schema).map(
    (p) =>
      `${p.name}: ${p.type}${p.required ? ' (required)' : 'default' in p ? ` = ${JSON.stringify(p.default)}` : ''}`,
  );
}
