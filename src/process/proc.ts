import { readFileSync } from 'node:fs';
import path from 'node:path';
import fs from 'fs-extra';

/** The fields of Linux's /proc/PID/stat that rehearse reads. */
export interface ProcStat {
  pid: number;
  /** R, S, D, T, ...; Z (zombie) and X (dead) are processes that have ended but are not yet reaped. */
  state: string;
  ppid: number;
  /** The process group. */
  pgrp: number;
  session: number;
  /** Start time in clock ticks since boot: tells a process from a later one given the same pid. */
  startTime?: string;
}

/** One /proc/PID/stat line, or undefined when it is not one. */
export function parseProcStat(pid: number, text: string): ProcStat | undefined {
  // The command name (field 2) may hold spaces and parentheses: the fields follow its last ')'.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const [state, ppid, pgrp, session] = [fields[0], Number(fields[1]), Number(fields[2]), Number(fields[3])];
  const startTime = fields[19];
  if (!state || !Number.isInteger(ppid) || !Number.isInteger(pgrp) || !Number.isInteger(session)) return undefined;
  return { pid, state, ppid, pgrp, session, ...(startTime ? { startTime } : {}) };
}

/** An ended process its parent has not reaped yet: it holds its pid and group but runs nothing. */
export const isEnded = (stat: ProcStat): boolean => stat.state === 'Z' || stat.state === 'X';

/** The stat of one process; undefined when it is gone or off Linux. */
export function readProcStatSync(pid: number, procRoot = '/proc'): ProcStat | undefined {
  try {
    return parseProcStat(pid, readFileSync(path.join(procRoot, String(pid), 'stat'), 'utf8'));
  } catch {
    return undefined;
  }
}

export async function readProcStat(pid: number, procRoot = '/proc'): Promise<ProcStat | undefined> {
  const text = await fs.readFile(path.join(procRoot, String(pid), 'stat'), 'utf8').catch(() => '');
  return text ? parseProcStat(pid, text) : undefined;
}

/** Every process's stat; undefined when there is no /proc to read (off Linux). */
export async function readAllProcStats(procRoot = '/proc'): Promise<ProcStat[] | undefined> {
  const names = await fs.readdir(procRoot).catch(() => undefined);
  if (!names) return undefined;
  const stats = await Promise.all(
    names.filter((name) => /^\d+$/.test(name)).map((name) => readProcStat(Number(name), procRoot)),
  );
  return stats.filter((stat): stat is ProcStat => stat !== undefined);
}
