import { createHash, randomBytes } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import fs from 'fs-extra';
import { RehearseError, tailOf } from '../errors.js';
import type { Command, ProcessRunner } from '../process/command.js';
import { succeeded } from '../process/command.js';

/**
 * The sandbox's own PostgreSQL cluster (`--database postgres`): created under the sandbox home with
 * Debian's `initdb`, listening on 127.0.0.1 at a port of its own with its socket beside its data, so
 * it never meets a system cluster. Durability is traded for speed (fsync off): it is disposable.
 */
export interface PostgresCluster {
  /** Where initdb put the cluster (a link under the sandbox home may point here). */
  dataDir: string;
  port: number;
  /** Directory of initdb, pg_ctl and createdb. */
  bin: string;
  log: string;
  /** The unprivileged user the cluster runs as when rehearse runs as root (PostgreSQL refuses root). */
  runAs?: string;
  /** The password of the `prefect` role: a secret of the sandbox, kept in its state file only. */
  password: string;
}

const ROLE = 'prefect';
const DATABASE = 'prefect';
const INSTALL_HINT =
  "install Debian's PostgreSQL (`apt-get install -y postgresql`; scripts/setup.sh does it), " +
  'or set REHEARSE_PG_BIN to the directory holding initdb and pg_ctl';

/** The newest PostgreSQL binaries: $REHEARSE_PG_BIN, then Debian's /usr/lib/postgresql/N/bin. */
export async function findPostgresBin(env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const candidates: string[] = [];
  if (env.REHEARSE_PG_BIN) candidates.push(env.REHEARSE_PG_BIN);
  const root = '/usr/lib/postgresql';
  const versions = (await fs.readdir(root).catch(() => [] as string[]))
    .filter((v) => /^\d+$/.test(v))
    .sort((a, b) => Number(b) - Number(a));
  candidates.push(...versions.map((v) => path.join(root, v, 'bin')));
  for (const dir of candidates) {
    if (await fs.pathExists(path.join(dir, 'initdb'))) return dir;
  }
  throw new RehearseError(
    'TOOL_MISSING',
    'PostgreSQL is not installed: `--database postgres` needs initdb and pg_ctl',
    {
      hint: INSTALL_HINT,
    },
  );
}

/** The connection URL Prefect's server takes (`PREFECT_API_DATABASE_CONNECTION_URL`). */
export const connectionUrl = (cluster: Pick<PostgresCluster, 'port' | 'password'>): string =>
  `postgresql+asyncpg://${ROLE}:${encodeURIComponent(cluster.password)}@127.0.0.1:${cluster.port}/${DATABASE}`;

const isRoot = (): boolean => typeof process.getuid === 'function' && process.getuid() === 0;

/** A program of the cluster, run as its owner. */
function pgCommand(cluster: Pick<PostgresCluster, 'bin' | 'runAs'>, program: string, args: string[]): Command {
  const file = path.join(cluster.bin, program);
  const command = cluster.runAs
    ? { file: 'runuser', args: ['-u', cluster.runAs, '--', file, ...args] }
    : { file, args };
  return { ...command, readOnly: false, timeoutMs: 90_000 };
}

async function runOrFail(runner: ProcessRunner, command: Command, what: string, log?: string): Promise<void> {
  const result = await runner.run(command);
  if (succeeded(result)) return;
  const logText = log ? await fs.readFile(log, 'utf8').catch(() => '') : '';
  throw new RehearseError('SANDBOX_FAILED', `sandbox: ${what} failed (exit ${result.exitCode ?? 'none'})`, {
    details: tailOf(`${result.stdout}${result.stderr}${result.spawnError ?? ''}\n${logText}`),
    hint: log ? `see ${log}` : INSTALL_HINT,
  });
}

/**
 * Where the cluster lives: `<home>/postgres`. As root the cluster runs as the `postgres` user, who
 * may not be able to reach the sandbox home (under /root, say): then the data lives in a directory
 * of the temporary area named after the home, and `<home>/postgres` links to it.
 */
async function clusterDir(runner: ProcessRunner, stateDir: string, runAs: string | undefined): Promise<string> {
  const home = path.join(stateDir, 'postgres');
  if (!runAs) return home;
  const reachable = await canReach(runner, runAs, stateDir);
  if (reachable) {
    await fs.ensureDir(home);
    return home;
  }
  const digest = createHash('sha256').update(path.resolve(stateDir)).digest('hex').slice(0, 12);
  const away = path.join(os.tmpdir(), `rehearse-postgres-${digest}`);
  await fs.ensureDir(away);
  if (!(await fs.pathExists(home))) await fs.symlink(away, home);
  return away;
}

async function canReach(runner: ProcessRunner, user: string, dir: string): Promise<boolean> {
  const test = { file: 'runuser', args: ['-u', user, '--', 'test', '-x', dir], readOnly: true, timeoutMs: 10_000 };
  return succeeded(await runner.run(test));
}

async function ownBy(runner: ProcessRunner, user: string, dir: string): Promise<void> {
  const chown = { file: 'chown', args: ['-R', `${user}:`, dir], readOnly: false, timeoutMs: 30_000 };
  await runOrFail(runner, chown, `giving ${dir} to the ${user} user`);
}

/**
 * Creates the cluster on first use (role and database `prefect`, password auth), then starts it on
 * `port`. The password stays beside the cluster, readable by rehearse's user only, so a sandbox
 * brought down and up again finds its database.
 */
export async function startPostgres(
  runner: ProcessRunner,
  options: { stateDir: string; port: number; env?: NodeJS.ProcessEnv },
): Promise<PostgresCluster> {
  const bin = await findPostgresBin(options.env);
  const runAs = isRoot() ? 'postgres' : undefined;
  const base = await clusterDir(runner, options.stateDir, runAs);
  const dataDir = path.join(base, 'data');
  const log = path.join(base, 'postgres.log');
  const passwordFile = path.join(options.stateDir, 'postgres.password');
  const fresh = !(await fs.pathExists(path.join(dataDir, 'PG_VERSION')));
  if (!fresh && !(await fs.pathExists(passwordFile))) {
    throw new RehearseError('SANDBOX_FAILED', `a PostgreSQL cluster is in ${dataDir} but its password is not known`, {
      hint: 'start afresh with `rehearse sandbox down --purge`, then `rehearse sandbox up --database postgres`',
    });
  }
  const password = fresh ? randomBytes(18).toString('base64url') : (await fs.readFile(passwordFile, 'utf8')).trim();
  const cluster: PostgresCluster = { dataDir, port: options.port, bin, log, password, ...(runAs ? { runAs } : {}) };
  if (fresh) {
    await fs.writeFile(passwordFile, `${password}\n`, { mode: 0o600 });
    await initCluster(runner, cluster, base);
  }
  if (runAs) await ownBy(runner, runAs, base);
  const settings = [
    `-p ${cluster.port}`,
    `-k '${base}'`,
    '-c listen_addresses=127.0.0.1',
    '-c fsync=off',
    '-c synchronous_commit=off',
    '-c full_page_writes=off',
    '-c max_connections=200',
  ].join(' ');
  const start = pgCommand(cluster, 'pg_ctl', ['-D', dataDir, '-l', log, '-o', settings, '-w', '-t', '60', 'start']);
  await runOrFail(runner, start, `starting PostgreSQL on 127.0.0.1:${cluster.port}`, log);
  if (fresh) {
    const create = {
      ...pgCommand({ bin }, 'createdb', ['-h', '127.0.0.1', '-p', String(cluster.port), '-U', ROLE, DATABASE]),
      env: { PGPASSWORD: password },
    };
    await runOrFail(runner, create, `creating database ${DATABASE}`, log);
  }
  return cluster;
}

async function initCluster(runner: ProcessRunner, cluster: PostgresCluster, base: string): Promise<void> {
  await fs.ensureDir(base);
  const pwfile = path.join(base, '.initdb-password');
  await fs.writeFile(pwfile, `${cluster.password}\n`, { mode: 0o600 });
  if (cluster.runAs) await ownBy(runner, cluster.runAs, base);
  try {
    const args = [
      '-D',
      cluster.dataDir,
      '-U',
      ROLE,
      `--pwfile=${pwfile}`,
      '--auth-host=scram-sha-256',
      '--auth-local=scram-sha-256',
      '-E',
      'UTF8',
      '--no-locale',
      '--no-sync',
    ];
    await runOrFail(runner, pgCommand(cluster, 'initdb', args), `creating a PostgreSQL cluster in ${cluster.dataDir}`);
  } finally {
    await fs.remove(pwfile);
  }
}

/** `pg_ctl stop -m fast`: ends its connections and stops. The pid is the postmaster's. */
export async function stopPostgres(
  runner: ProcessRunner,
  cluster: PostgresCluster,
): Promise<{ pid: number; outcome: 'stopped' | 'not-running' | 'failed' }> {
  const pidFile = await fs.readFile(path.join(cluster.dataDir, 'postmaster.pid'), 'utf8').catch(() => '');
  const pid = Number(pidFile.split('\n')[0]) || 0;
  if (!pidFile) return { pid, outcome: 'not-running' };
  const result = await runner.run(pgCommand(cluster, 'pg_ctl', ['-D', cluster.dataDir, '-m', 'fast', '-w', 'stop']));
  return { pid, outcome: succeeded(result) ? 'stopped' : 'failed' };
}

/** The cluster's files, wherever they live (`down --purge`). */
export async function removePostgres(stateDir: string): Promise<void> {
  const home = path.join(stateDir, 'postgres');
  const target = await fs.readlink(home).catch(() => undefined);
  if (target) await fs.remove(target);
  await fs.remove(home);
}
