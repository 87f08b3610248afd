import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { RehearseError } from '../../../src/errors.js';
import { expectedFromManifest, parseManifestText } from '../../../src/guardrails/manifest.js';

const MANIFEST = 'fixtures/hotpass/prefect/deployments/hotpass-backfill.yaml';
const manifestText = readFileSync(new URL(`../../../${MANIFEST}`, import.meta.url), 'utf8');

/** The fixture manifest with its top-level `concurrency_limit: 2` and `collision_strategy` lines replaced. */
const withLimit = (lines: string): string => {
  const text = manifestText.replace(/^concurrency_limit: 2\ncollision_strategy: ENQUEUE\n/m, lines);
  expect(text).not.toBe(manifestText);
  return text;
};

async function rejection(text: string, source = 'broken.yaml'): Promise<RehearseError> {
  const error: unknown = await parseManifestText(text, source).then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(RehearseError);
  return error as RehearseError;
}

describe('expectedFromManifest', () => {
  it("reads the stand-in manifest's guardrails, with the integer form of concurrency_limit", async () => {
    const expected = expectedFromManifest(await parseManifestText(manifestText, MANIFEST), MANIFEST);
    expect(expected).toMatchObject({
      source: MANIFEST,
      deploymentName: 'hotpass-backfill',
      workPool: 'hotpass-backfill-pool',
      deploymentLimit: 2,
      collisionStrategy: 'ENQUEUE',
      concurrencyKey: 'hotpass-backfill',
      keyLimit: 2,
      backfill: true,
      scheduleActive: false,
    });
  });

  it('reads the object form of concurrency_limit, with its collision strategy', async () => {
    const text = withLimit('concurrency_limit:\n  limit: 3\n  collision_strategy: CANCEL_NEW\n');
    const expected = expectedFromManifest(await parseManifestText(text, 'object.yaml'), 'object.yaml');
    expect([expected.deploymentLimit, expected.collisionStrategy]).toEqual([3, 'CANCEL_NEW']);
  });

  it('reads a top-level CANCEL_NEW beside the integer form', async () => {
    const expected = expectedFromManifest(
      await parseManifestText(withLimit('concurrency_limit: 4\ncollision_strategy: CANCEL_NEW\n'), 'm.yaml'),
      'm.yaml',
    );
    expect([expected.deploymentLimit, expected.collisionStrategy]).toEqual([4, 'CANCEL_NEW']);
  });

  it('defaults the collision strategy to ENQUEUE, as Prefect does', async () => {
    const expected = expectedFromManifest(
      await parseManifestText(withLimit('concurrency_limit: 2\n'), 'm.yaml'),
      'm.yaml',
    );
    expect(expected.collisionStrategy).toBe('ENQUEUE');
  });

  it('leaves the deployment limit undefined when the manifest sets none', async () => {
    const expected = expectedFromManifest(await parseManifestText(withLimit(''), 'm.yaml'), 'm.yaml');
    expect(expected.deploymentLimit).toBeUndefined();
  });
});

describe('parseManifestText', () => {
  it('rejects YAML that does not parse with CONFIG_INVALID, naming the manifest and the line', async () => {
    const error = await rejection('name: hotpass-backfill\nparameters: [unclosed\n');
    expect([error.code, error.exitCode]).toEqual(['CONFIG_INVALID', 2]);
    expect(error.message).toBe('manifest broken.yaml is not valid YAML');
    expect(error.details).toHaveLength(1);
    expect(error.details[0]).toMatch(/line \d+/);
  });

  it('rejects a manifest without a name with a `path: message` detail', async () => {
    const error = await rejection(manifestText.replace(/^name: hotpass-backfill\n/m, ''));
    expect([error.code, error.exitCode]).toEqual(['CONFIG_INVALID', 2]);
    expect(error.message).toBe('manifest broken.yaml does not describe a deployment');
    expect(error.details).toEqual([expect.stringMatching(/^name: .+/)]);
  });

  it('names the nested key of a wrong-typed value', async () => {
    const error = await rejection(withLimit('concurrency_limit: 2\ncollision_strategy: QUEUE\n'));
    expect(error.details).toEqual([expect.stringMatching(/^collision_strategy: .+/)]);
  });

  it('rejects a document that is not a mapping at all', async () => {
    const error = await rejection('just a sentence\n');
    expect(error.code).toBe('CONFIG_INVALID');
    expect(error.details).toEqual([expect.stringMatching(/^\(top level\): .+/)]);
  });
});
