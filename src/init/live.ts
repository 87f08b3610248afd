import { isRehearseError } from '../errors.js';
import type { PrefectApi } from '../prefect/api.js';
import { formatParameters, readParameterSchema } from '../prefect/parameter-schema.js';
import { buildWindowParameters } from '../prefect/parameters.js';
import { fullName, readDeployment, readServerVersion, resolveDeploymentName } from '../prefect/queries.js';
import type { Deployment } from '../prefect/schemas.js';
import type { WindowMode } from '../prefect/window.js';

/** What the live deployment says, when a server answers. */
export interface LiveFacts {
  fullName: string;
  deployment: Deployment;
  serverVersion?: string;
}

export interface WindowChoice {
  mode: Exclude<WindowMode, 'auto'> | 'auto';
  /** Set when the choice was checked against the live parameter schema. */
  checked: boolean;
  why: string;
  /** The flow's parameters, one per line, when a schema was read. */
  accepted: string[];
  /** What stopped a mapping, when none fits. */
  problem?: string;
}

/** The deployment by its manifest name; a failure is a reason, never a crash of init. */
export async function readLive(api: PrefectApi, name: string): Promise<{ live?: LiveFacts; problem?: string }> {
  try {
    const ref = await resolveDeploymentName(api, name);
    const { deployment } = await readDeployment(api, ref);
    const serverVersion = await readServerVersion(api).catch(() => undefined);
    return { live: { fullName: fullName(ref), deployment, ...(serverVersion ? { serverVersion } : {}) } };
  } catch (error) {
    if (!isRehearseError(error)) throw error;
    return { problem: `${error.message}${error.details.length ? ` (${error.details.join('; ')})` : ''}` };
  }
}

const SAMPLE = { since: '2024-01-01', until: '2024-01-07' };

/** The window mode: from the live schema when there is one, else a guess from the manifest's parameters. */
export function chooseWindow(live: LiveFacts | undefined, manifestParameters: Record<string, unknown>): WindowChoice {
  if (!live) {
    const keys = Object.keys(manifestParameters);
    const hint =
      keys.includes('since') && keys.includes('until')
        ? 'since/until'
        : keys.includes('runs')
          ? 'a runs list'
          : undefined;
    return {
      mode: 'auto',
      checked: false,
      accepted: [],
      why: hint
        ? `no live deployment was read; the manifest's parameters suggest ${hint}, which auto picks when the live schema agrees`
        : 'no live deployment was read; auto picks since/until or a runs list from the live schema at run time',
    };
  }
  const schema = readParameterSchema(live.deployment.parameter_openapi_schema);
  const accepted = schema ? formatParameters(schema) : [];
  try {
    const { mode } = buildWindowParameters({
      deploymentName: live.fullName,
      parameterSchema: live.deployment.parameter_openapi_schema,
      deploymentParameters: live.deployment.parameters,
      ...SAMPLE,
      extra: {},
    });
    const why = !schema
      ? 'the live deployment carries no parameter schema, so since/until are sent unchecked'
      : mode === 'runs'
        ? 'the live flow takes a runs list of {run_date, version} and no since/until'
        : 'the live flow takes since and until';
    return { mode, checked: Boolean(schema), why, accepted };
  } catch (error) {
    if (!isRehearseError(error)) throw error;
    return {
      mode: 'template',
      checked: true,
      why: 'the live flow takes neither since/until nor a runs list',
      accepted,
      problem: error.message,
    };
  }
}
