import path from 'node:path';
import fs from 'fs-extra';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sandboxProcessEnv } from '../../src/sandbox/state.js';
import { MASK } from '../../src/secrets/redact.js';
import { watchDescendants } from './descendants.js';
import { api, type CliRun, parseJson, rehearse, sandbox, workspace } from './support.js';

/** Each planted where an operator's secrets really live; none may appear in any output. */
const PLANTED = {
  envKey: 'pnu_planted-env-key-8f3a1c',
  envToken: 'planted-env-token-5b2e',
  paramToken: 'planted-param-token-71d9',
  configNested: 'planted-config-secret-c4a0',
  deploymentDefault: 'planted-deploy-default-9e61',
  /** The sandbox's own auth string's password, read at start: a credential the server really demands. */
  urlPassword: '',
};

interface DeploymentRecord {
  id: string;
  parameters: Record<string, unknown>;
}

async function listFiles(dir: string): Promise<string[]> {
  if (!(await fs.pathExists(dir))) return [];
  const entries = await fs.readdir(dir, { withFileTypes: true });
  const nested = await Promise.all(
    entries.map((e) => (e.isDirectory() ? listFiles(path.join(dir, e.name)) : [path.join(dir, e.name)])),
  );
  return nested.flat();
}

/** `where: secret` for every planted value found in the texts. */
function leaks(texts: Record<string, string>): string[] {
  return Object.entries(texts).flatMap(([where, text]) =>
    Object.entries(PLANTED)
      .filter(([, secret]) => text.includes(secret))
      .map(([name]) => `${where}: ${name}`),
  );
}

describe('no secret leaks, on the real sandbox', () => {
  let cwd: string;
  let deployment: DeploymentRecord;
  let env: Record<string, string>;
  const outputs: Record<string, string> = {};

  const run = async (
    name: string,
    args: string[],
    extra: Record<string, string> = {},
    onStart?: (pid: number) => void,
  ): Promise<CliRun> => {
    const result = await rehearse(args, { cwd, env: { ...env, ...extra }, ...(onStart ? { onStart } : {}) });
    outputs[`${name} stdout`] = result.stdout;
    outputs[`${name} stderr`] = result.stderr;
    return result;
  };
  const param = ['--param', `notify_token=${PLANTED.paramToken}`];

  beforeAll(async () => {
    cwd = await workspace();
    const state = await sandbox();
    deployment = await api<DeploymentRecord>('GET', '/deployments/name/hotpass-backfill/hotpass-backfill');
    // A server-side default rehearse is never told about.
    await api('PATCH', `/deployments/${deployment.id}`, {
      parameters: { ...deployment.parameters, notify_token: PLANTED.deploymentDefault },
    });
    const url = new URL(state.apiUrl);
    // The sandbox demands basic auth: given only as the URL's userinfo, it must work and never show.
    const [user, password] = (state.authString ?? '').split(/:(.*)/s) as [string, string];
    expect(password.length).toBeGreaterThan(8);
    PLANTED.urlPassword = password;
    const withUserinfo = `${url.protocol}//${user}:${encodeURIComponent(password)}@${url.host}${url.pathname}`;
    const { PREFECT_API_AUTH_STRING: _given, ...sandboxEnv } = sandboxProcessEnv(state);
    env = {
      ...sandboxEnv,
      PREFECT_API_URL: withUserinfo,
      PREFECT_API_KEY: PLANTED.envKey,
      HOTPASS_SLACK_TOKEN: PLANTED.envToken,
    };
    await fs.writeJson(path.join(cwd, 'rehearse.config.json'), {
      projectDir: state.projectDir,
      run: {
        since: '2024-01-01',
        until: '2024-01-01',
        parameters: {
          day_seconds: 0.5,
          parameters: { pipeline: { backfill: true }, webhook: { auth_token: PLANTED.configNested } },
        },
      },
    });
  });

  afterAll(async () => {
    await api('PATCH', `/deployments/${deployment.id}`, { parameters: deployment.parameters });
  });

  it('doctor, pretty and --json, through URL userinfo as basic auth, shows no userinfo', async () => {
    const pretty = await run('doctor', ['doctor'], { CI: '' });
    expect(pretty.exitCode, pretty.stdout + pretty.stderr).toBe(0);
    expect(pretty.stdout).toMatch(/answers, server/);
    const json = await run('doctor --json', ['doctor', '--json']);
    expect(parseJson(json).exitCode).toBe(0);
  });

  it('inspect --ci keeps deployment.json as the API answered, with the server-side default masked', async () => {
    const result = await run('inspect --ci', ['inspect', '--new-bundle', '--ci']);
    expect(result.exitCode, result.stdout + result.stderr).toBe(0);
    const bundle = /bundle (\S+\/\d{8}T\d{6}Z)/.exec(result.stdout)?.[1] as string;
    const stored = await fs.readJson(path.join(bundle, 'deployment.json'));
    const live = await api<Record<string, unknown> & { parameters: Record<string, unknown> }>(
      'GET',
      `/deployments/${deployment.id}`,
    );
    expect(live.parameters.notify_token).toBe(PLANTED.deploymentDefault);
    const volatile = { updated: null, last_polled: null, status: null };
    expect({ ...stored, ...volatile }).toEqual({
      ...live,
      ...volatile,
      parameters: { ...live.parameters, notify_token: MASK },
    });
    expect(await fs.readFile(path.join(bundle, 'notes.md'), 'utf8')).toContain(
      '`deployment.json: parameters.notify_token`',
    );
  });

  it('dry runs, --json and pretty, plan the parameters without showing them', async () => {
    const json = await run('run --dry-run --json', ['run', '--dry-run', '--json', ...param]);
    expect(parseJson(json).exitCode, json.stderr).toBe(0);
    expect(json.stdout).toContain(MASK);
    const pretty = await run('backfill --dry-run', ['backfill', '--dry-run', '--burst', '1', ...param], { CI: '' });
    expect(pretty.stdout).toContain('would run');
    expect(pretty.stdout).toContain('PREFECT_API_URL=http://127.0.0.1');
  });

  it('a backfill with --json, JUnit and an upload, then a capture by hand, leave no planted value anywhere', async () => {
    const junit = path.join(cwd, 'rehearsal.xml');
    const far = path.join(cwd, 'far-copy');
    const children = watchDescendants();
    const backfill = await run(
      'backfill',
      ['backfill', '--burst', '1', '--json', '--junit', junit, '--to', far, ...param],
      {},
      children.start,
    );
    // Any local user reads /proc/<pid>/cmdline; only the owner reads environ. Neither may carry a parameter.
    const seen = await children.stop();
    expect(
      seen.some((p) => p.cmdline.includes('deployment run')),
      'the watch was seen',
    ).toBe(true);
    const parameterSecrets = [PLANTED.paramToken, PLANTED.configNested, PLANTED.deploymentDefault];
    const exposed = seen.flatMap((p) => [
      ...Object.entries(PLANTED)
        .filter(([, secret]) => p.cmdline.includes(secret))
        .map(([name]) => `argv of ${p.cmdline.slice(0, 60)}: ${name}`),
      ...parameterSecrets.filter((s) => p.environ.includes(s)).map((s) => `environment of ${p.pid}: ${s}`),
    ]);
    expect(exposed).toEqual([]);
    const out = parseJson(backfill);
    expect(out.bundle, backfill.stderr).toBeDefined();
    const runIds = out.summary?.steps.find((s) => s.name === 'run')?.data?.flowRunIds as string[];
    expect(runIds).toHaveLength(1);
    // The secrets did reach Prefect (the CLI authenticated with the URL's userinfo): only their display is masked.
    const flowRun = await api<{ parameters: Record<string, unknown> }>('GET', `/flow_runs/${runIds[0]}`);
    expect(flowRun.parameters.notify_token).toBe(PLANTED.paramToken);
    expect(JSON.stringify(flowRun.parameters)).toContain(PLANTED.configNested);
    expect(await fs.pathExists(junit)).toBe(true);

    const capture = await run('capture by hand', ['capture', '--new-bundle', '--flow-run', runIds[0] as string], {
      CI: '',
    });
    expect(capture.stdout).toMatch(/bundle (\S+)/);
    const captured = /bundle (\S+\/\d{8}T\d{6}Z)/.exec(capture.stdout)?.[1] as string;
    const metadata = await fs.readJson(path.join(captured, 'metadata.json'));
    expect(metadata[0].parameters.notify_token).toBe(MASK);

    // The config file is the operator's own input, where the test planted one of the secrets.
    const files = (await listFiles(cwd)).filter((f) => path.basename(f) !== 'rehearse.config.json');
    const names = files.map((f) => path.relative(cwd, f));
    for (const expected of [
      'rehearsal.xml',
      'metadata.json',
      'deployment.json',
      'summary.json',
      'notes.md',
      'hotpass-e2e-staging.log',
    ]) {
      expect(
        names.some((n) => path.basename(n) === expected),
        expected,
      ).toBe(true);
    }
    expect(names.some((n) => n.startsWith(`far-copy${path.sep}`) && n.endsWith('summary.json'))).toBe(true);
    const contents: Record<string, string> = {};
    for (const file of files) contents[path.relative(cwd, file)] = (await fs.readFile(file)).toString('utf8');
    expect(Object.keys(outputs)).toHaveLength(14);
    expect(leaks({ ...outputs, ...contents })).toEqual([]);
  });
});
