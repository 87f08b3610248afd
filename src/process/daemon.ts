import { spawn } from 'node:child_process';
import fs from 'fs-extra';
import { sleep } from '../util/sleep.js';
import type { Command } from './command.js';
import { isEnded, readAllProcStats, readProcStatSync } from './proc.js';

/** Start a long-lived process in its own process group, output to a log file, and let it outlive us. */
export async function spawnDetached(command: Command, logFile: string): Promise<number> {
  const log = await fs.open(logFile, 'a');
  try {
    const child = spawn(command.file, command.args, {
      cwd: command.cwd,
      env: { ...process.env, ...command.env },
      detached: true,
      stdio: ['ignore', log, log],
    });
    const pid = await new Promise<number>((resolve, reject) => {
      child.once('error', reject);
      child.once('spawn', () => resolve(child.pid as number));
    });
    child.unref();
    return pid;
  } finally {
    await fs.close(log);
  }
}

/**
 * Whether a process lives. One that has ended but is not yet reaped (a zombie) does not: a daemon of the
 * sandbox outlives the command that started it, so its parent is whatever adopts orphans, and a container's
 * first process may reap them seconds late, or never.
 */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const stat = readProcStatSync(pid);
  return stat === undefined || !isEnded(stat);
}

/** Signal every process of a group; false when no process bears that group. */
export function signalGroup(pid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(-pid, signal);
    return true;
  } catch {
    return false;
  }
}

/** SIGTERM the whole group, then SIGKILL what is left after the grace period. */
export async function stopGroup(pid: number, graceMs = 10_000): Promise<'stopped' | 'killed' | 'not-running'> {
  // A process not yet leading its group (just forked) gets the signal itself.
  const signal = (name: NodeJS.Signals): void => {
    if (signalGroup(pid, name)) return;
    try {
      process.kill(pid, name);
    } catch {
      // Gone already.
    }
  };
  if (!isAlive(pid) && !(await groupAlive(pid))) return 'not-running';
  signal('SIGTERM');
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    if (!(await groupAlive(pid))) return 'stopped';
    await sleep(200);
  }
  signal('SIGKILL');
  await sleep(300);
  return 'killed';
}

/** Whether a process of the group still runs (ended, unreaped ones do not count; see isAlive). */
async function groupAlive(pid: number): Promise<boolean> {
  try {
    process.kill(-pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const stats = await readAllProcStats();
  return stats === undefined || stats.some((stat) => stat.pgrp === pid && !isEnded(stat));
}

/**
 * Processes (Linux /proc) whose environment holds NAME=VALUE. Flow runs a worker starts get a
 * session of their own, so only their inherited environment ties them to the sandbox.
 */
export async function processesWithEnv(name: string, value: string): Promise<number[]> {
  const entries = await fs.readdir('/proc').catch(() => [] as string[]);
  const wanted = `${name}=${value}`;
  const found: number[] = [];
  for (const entry of entries) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    const environ = await fs.readFile(`/proc/${entry}/environ`, 'utf8').catch(() => '');
    if (environ.split('\0').includes(wanted)) found.push(Number(entry));
  }
  return found;
}
