import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { Ajv } from 'ajv';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

const repo = path.resolve(import.meta.dirname, '..', '..', '..');
const ACTION = readFileSync(path.join(repo, 'action.yml'), 'utf8');

const text = { type: 'string', minLength: 1 };
const expression = { type: 'string', pattern: '^\\$\\{\\{ [^}]+ \\}\\}$' };

/**
 * GitHub's metadata syntax for a composite action (docs.github.com, "Metadata syntax for GitHub Actions"),
 * the parts this action uses, strict: an unknown or misspelt key fails, as the runner would refuse it.
 */
const ACTION_SCHEMA = {
  type: 'object',
  required: ['name', 'description', 'runs'],
  additionalProperties: false,
  properties: {
    name: text,
    description: text,
    author: text,
    branding: {
      type: 'object',
      additionalProperties: false,
      properties: {
        icon: text,
        color: { enum: ['white', 'black', 'yellow', 'blue', 'green', 'orange', 'red', 'purple', 'gray-dark'] },
      },
    },
    inputs: {
      type: 'object',
      propertyNames: { pattern: '^[A-Za-z_][A-Za-z0-9_-]*$' },
      additionalProperties: {
        type: 'object',
        required: ['description'],
        additionalProperties: false,
        properties: {
          description: text,
          required: { type: 'boolean' },
          default: { type: 'string' },
          deprecationMessage: text,
        },
      },
    },
    outputs: {
      type: 'object',
      propertyNames: { pattern: '^[A-Za-z_][A-Za-z0-9_-]*$' },
      additionalProperties: {
        type: 'object',
        required: ['description', 'value'],
        additionalProperties: false,
        properties: { description: text, value: expression },
      },
    },
    runs: {
      type: 'object',
      required: ['using', 'steps'],
      additionalProperties: false,
      properties: {
        using: { const: 'composite' },
        steps: {
          type: 'array',
          minItems: 1,
          items: {
            type: 'object',
            additionalProperties: false,
            properties: {
              name: text,
              id: { type: 'string', pattern: '^[A-Za-z_][A-Za-z0-9_-]*$' },
              if: text,
              run: text,
              shell: text,
              uses: { type: 'string', pattern: '^[^@\\s]+@[^@\\s]+$' },
              with: { type: 'object', additionalProperties: { type: ['string', 'number', 'boolean'] } },
              env: { type: 'object', additionalProperties: { type: ['string', 'number', 'boolean'] } },
              'working-directory': text,
              'continue-on-error': { type: ['boolean', 'string'] },
            },
            // A composite step either runs a command (which must name its shell) or uses an action.
            oneOf: [
              { required: ['run', 'shell'], not: { required: ['uses'] } },
              { required: ['uses'], not: { required: ['run'] } },
            ],
          },
        },
      },
    },
  },
};

interface ActionStep {
  id?: string;
  run?: string;
  uses?: string;
}
interface Action {
  inputs: Record<string, unknown>;
  outputs: Record<string, { value: string }>;
  runs: { steps: ActionStep[] };
}

// strictRequired off: a step's either/or names keys its `properties` defines one level up; union types for `with` values.
const validateAction = new Ajv({ allErrors: true, strict: true, strictRequired: false, allowUnionTypes: true }).compile(
  ACTION_SCHEMA,
);

describe('action.yml', () => {
  const action = parse(ACTION) as Action;

  it("is a composite action GitHub's metadata syntax accepts", () => {
    expect(validateAction(action) ? [] : validateAction.errors).toEqual([]);
  });

  it('refers only to inputs it declares and to step ids it has, and runs a script that is there', () => {
    const ids = new Set(action.runs.steps.map((step) => step.id).filter(Boolean));
    for (const [, name] of ACTION.matchAll(/\$\{\{\s*inputs\.([A-Za-z0-9_-]+)\s*\}\}/g))
      expect(Object.keys(action.inputs), name).toContain(name);
    for (const [, id] of ACTION.matchAll(/steps\.([A-Za-z0-9_-]+)\.outputs/g)) expect([...ids], id).toContain(id);
    for (const output of Object.values(action.outputs))
      expect(output.value).toMatch(/^\$\{\{ steps\.rehearse\.outputs\./);
    for (const [, script] of ACTION.matchAll(/\$GITHUB_ACTION_PATH\/(scripts\/[\w.-]+)/g))
      expect(statSync(path.join(repo, script ?? '')).isFile(), script).toBe(true);
    // Actions it uses are pinned to a major version at least.
    for (const step of action.runs.steps.filter((s) => s.uses)) expect(step.uses).toMatch(/@v\d+/);
  });

  it('fails the schema for a step that runs a command without a shell, and for a misspelt key', () => {
    const noShell = structuredClone(action);
    delete (noShell.runs.steps[0] as { shell?: string }).shell;
    expect(validateAction(noShell)).toBe(false);
    expect(validateAction({ ...action, output: {} })).toBe(false);
  });
});
