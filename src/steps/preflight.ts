import { RehearseError, tailOf } from '../errors.js';
import { prefectVersionCommand } from '../prefect/commands.js';
import { checkHealth, readServerVersion } from '../prefect/queries.js';
import { assertRan, cliOf } from './prefect-cli.js';
import type { Step } from './step.js';

/** Before anything is triggered: the tools answer and the API is healthy; records both versions. */
export const preflightStep: Step = {
  name: 'preflight',
  title: 'check tools and the Prefect API',
  async run(ctx) {
    const [version, health, server] = await Promise.all([
      ctx.runner.run(prefectVersionCommand(cliOf(ctx))),
      checkHealth(ctx.api),
      readServerVersion(ctx.api).catch(() => undefined),
    ]);
    assertRan(version, 'prefect --version');
    if (version.exitCode !== 0) {
      throw new RehearseError('TOOL_MISSING', `\`${version.command.file} ${version.command.args.join(' ')}\` failed in ${ctx.prefect.projectDir}`, {
        details: tailOf(version.stdout + version.stderr),
        hint: 'run rehearse in the project checkout whose uv environment has prefect, or set --project-dir',
      });
    }
    if (!health.ok) {
      throw new RehearseError('API_UNREACHABLE', `the Prefect API at ${ctx.prefect.apiUrl} is not healthy (${health.detail})`, {
        hint: 'check PREFECT_API_URL (port-forward running?), or use --sandbox',
      });
    }
    const client = version.stdout.trim().split('\n').at(-1) ?? '';
    return { checks: [], files: [], data: { prefectClient: client, prefectServer: server ?? null, apiUrl: ctx.prefect.apiUrl } };
  },
};
