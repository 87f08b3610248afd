// The sandbox a group of rows shares: started for them, stopped at the end whatever happens.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { readJson } from './bundles.js';
import { cli, keep, node, repo } from './options.js';
import { live, mkdtemp, runProcess, stopGroup } from './processes.js';
import { log, raw, tail } from './table.js';

/** `export KEY="value"` lines of `rehearse sandbox env`. */
function parseExports(text) {
  const env = {};
  for (const line of text.split('\n')) {
    const match = /^export ([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line.trim());
    if (!match) continue;
    try {
      env[match[1]] = String(JSON.parse(match[2]));
    } catch {
      env[match[1]] = match[2].replace(/^['"]|['"]$/g, '');
    }
  }
  return env;
}

/** The bench's environment without an inherited REHEARSE_BENCH_RSS_FILE, plus `extra`. */
export function cleanEnv(extra = {}) {
  const env = { ...process.env };
  delete env.REHEARSE_BENCH_RSS_FILE;
  return { ...env, ...extra };
}

export async function withSandbox(body, upArgs = []) {
  const work = mkdtemp('rehearse-bench-');
  const home = path.join(work, 'sandbox');
  const sandbox = { work, home, cleanup: [work] };
  const env = cleanEnv({ REHEARSE_SANDBOX_HOME: home });
  const down = () =>
    spawnSync(node, [cli, 'sandbox', 'down', '--purge', '--ci'], {
      cwd: repo,
      env,
      encoding: 'utf8',
      timeout: 120_000,
    });
  stopSandbox = down;
  try {
    log(`sandbox up (REHEARSE_SANDBOX_HOME=${home})`);
    const up = await runProcess(node, [cli, 'sandbox', 'up', ...upArgs, '--ci'], {
      env,
      timeoutMs: 420_000,
      label: `sandbox up ${upArgs.join(' ')}`.trim(),
    });
    raw[upArgs.length ? 'postgresSandboxUpMs' : 'sandboxUpMs'] = up.ms;
    if (up.code !== 0) throw new Error(`sandbox up exited ${up.code}: ${tail(up.stdout + up.stderr, 12)}`);
    const printed = spawnSync(node, [cli, 'sandbox', 'env'], { cwd: repo, env, encoding: 'utf8' });
    if (printed.status !== 0)
      throw new Error(`sandbox env exited ${printed.status}: ${printed.stdout}${printed.stderr}`);
    const exported = parseExports(printed.stdout);
    const state = readJson(path.join(home, 'sandbox.json'));
    Object.assign(sandbox, {
      apiUrl: state.apiUrl,
      projectDir: state.projectDir,
      exported,
      scriptEnv: cleanEnv(exported),
    });
    raw.sandbox = { apiUrl: state.apiUrl, exported };
    return await body(sandbox);
  } finally {
    log('sandbox down --purge');
    const result = down();
    stopSandbox = undefined;
    if (result.status !== 0)
      log(`sandbox down exited ${result.status}: ${tail(`${result.stdout}${result.stderr}`, 5)}`);
    if (!keep) for (const dir of sandbox.cleanup) fs.rmSync(dir, { recursive: true, force: true });
    else log(`kept ${sandbox.cleanup.join(', ')}`);
  }
}

let stopSandbox;
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    log(`${signal}: stopping the bench's processes and its sandbox`);
    for (const child of live) stopGroup(child);
    stopSandbox?.();
    process.exit(130);
  });
}
