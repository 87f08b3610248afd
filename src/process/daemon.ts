import { spawn } from 'node:child_process';
import fs from 'fs-extra';
import { sleep } from '../util/sleep.js';
import type { Command } from './command.js';

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

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** SIGTERM the whole group, then SIGKILL what is left after the grace period. */
export async function stopGroup(pid: number, graceMs = 10_000): Promise<'stopped' | 'killed' | 'not-running'> {
  const signalGroup = (signal: NodeJS.Signals): boolean => {
    try {
      process.kill(-pid, signal);
      return true;
    } catch {
      try {
        process.kill(pid, signal);
        return true;
      } catch {
        return false;
      }
    }
  };
  if (!isAlive(pid) && !groupAlive(pid)) return 'not-running';
  signalGroup('SIGTERM');
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    if (!groupAlive(pid)) return 'stopped';
    await sleep(200);
  }
  signalGroup('SIGKILL');
  await sleep(300);
  return 'killed';
}

function groupAlive(pid: number): boolean {
  try {
    process.kill(-pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
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
