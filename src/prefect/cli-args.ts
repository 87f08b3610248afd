/**
 * Argument lists after `prefect`, for the commands rehearse runs (the sandbox's setup), applies as a fix
 * (doctor --fix) or prints as one (doctor, report.html); the caller puts its CLI (`uv run prefect`, the
 * configured one) in front. Pure data with no imports, so the offline verify can word fixes without
 * reaching code that talks to Prefect. Whole command values are built in commands.ts.
 */

export const createWorkPoolArgs = (pool: string, options: { overwrite?: boolean } = {}): string[] => [
  'work-pool',
  'create',
  pool,
  '--type',
  'process',
  ...(options.overwrite ? ['--overwrite'] : []),
];

export const resumeWorkPoolArgs = (pool: string): string[] => ['work-pool', 'resume', pool];

export const setWorkPoolLimitArgs = (pool: string, limit: number): string[] => [
  'work-pool',
  'set-concurrency-limit',
  pool,
  String(limit),
];

export const startWorkerArgs = (pool: string, options: { type?: string; name?: string } = {}): string[] => [
  'worker',
  'start',
  '--pool',
  pool,
  ...(options.type ? ['--type', options.type] : []),
  ...(options.name ? ['--name', options.name] : []),
];

export const createGlobalLimitArgs = (name: string, limit: number | string): string[] => [
  'gcl',
  'create',
  name,
  '--limit',
  String(limit),
];

export const updateGlobalLimitArgs = (name: string, limit: number, options: { enable?: boolean } = {}): string[] => [
  'gcl',
  'update',
  name,
  '--limit',
  String(limit),
  ...(options.enable ? ['--enable'] : []),
];

export const enableGlobalLimitArgs = (name: string): string[] => ['gcl', 'enable', name];

/** The sandbox's server, on loopback only, with Prefect's analytics off. */
export const startServerArgs = (port: number): string[] => [
  'server',
  'start',
  '--host',
  '127.0.0.1',
  '--port',
  String(port),
  '--analytics-off',
];

/** `prefect flow-run watch ID`: the runbook's watch of a run made on a work queue, until it ends or the timeout. */
export const watchFlowRunArgs = (runId: string, timeoutSeconds: number): string[] => [
  'flow-run',
  'watch',
  runId,
  '--timeout',
  String(timeoutSeconds),
];

/** `prefect api PATCH /deployments/ID --data JSON`: a deployment's fields set through the CLI's raw API call. */
export const patchDeploymentArgs = (deploymentId: string, data: string): string[] => [
  'api',
  'PATCH',
  `/deployments/${deploymentId}`,
  '--data',
  data,
];

/** `prefect flow-run cancel ID`. */
export const cancelFlowRunArgs = (runId: string): string[] => ['flow-run', 'cancel', runId];
