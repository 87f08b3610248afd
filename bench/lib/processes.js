// @ts-check
// Child processes the bench runs and times, each in its own process group, stopped if the bench dies.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { stopGroup as stopProcessGroup } from '../../dist/process/daemon.js';
import { repo } from './options.js';
import { log } from './table.js';

/** Process group ids of children that may outlive a crash: stopped on exit (stopLive). */
/** @type {Set<number>} */
export const live = new Set();

/**
 * Runs a command in its own process group, timing it from spawn to exit. Stdout/stderr are collected;
 * each complete stderr line is stamped with its arrival time (ms since spawn).
 * @typedef {{ code: number | null, signal: NodeJS.Signals | null, error?: string, ms: number, stdout: string, stderr: string, stderrLines: { at: number, text: string }[], timedOut: boolean }} ProcessRun
 * @param {string} file
 * @param {string[]} args
 * @param {{ cwd?: string, env?: NodeJS.ProcessEnv, timeoutMs?: number, label?: string }} [options]
 * @returns {Promise<ProcessRun>}
 */
export function runProcess(file, args, { cwd = repo, env = process.env, timeoutMs = 600_000, label = file } = {}) {
  return new Promise((resolve) => {
    const started = performance.now();
    const child = spawn(file, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    const pid = child.pid;
    if (pid !== undefined) live.add(pid);
    let stdout = '';
    let stderr = '';
    let partial = '';
    /** @type {{ at: number, text: string }[]} */
    const stderrLines = [];
    /** @type {number | undefined} */
    let exitedAt;
    let timedOut = false;
    child.stdout.on('data', (chunk) => {
      stdout += chunk;
    });
    child.stderr.on('data', (chunk) => {
      const at = performance.now() - started;
      stderr += chunk;
      partial += chunk;
      const parts = partial.split('\n');
      partial = parts.pop() ?? '';
      for (const text of parts) stderrLines.push({ at, text });
    });
    const timer = setTimeout(() => {
      timedOut = true;
      log(`${label}: no end after ${Math.round(timeoutMs / 1000)} s, stopping it`);
      if (pid !== undefined) stopGroup(pid);
    }, timeoutMs);
    child.on('exit', () => {
      exitedAt = performance.now();
    });
    child.on('error', (error) => {
      clearTimeout(timer);
      if (pid !== undefined) live.delete(pid);
      resolve({
        code: null,
        signal: null,
        error: error.message,
        ms: performance.now() - started,
        stdout,
        stderr,
        stderrLines,
        timedOut,
      });
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (pid !== undefined) live.delete(pid);
      if (partial) stderrLines.push({ at: (exitedAt ?? performance.now()) - started, text: partial });
      resolve({ code, signal, ms: (exitedAt ?? performance.now()) - started, stdout, stderr, stderrLines, timedOut });
    });
  });
}

/** SIGTERM a process group now (before this returns), SIGKILL what is left 5 s later. */
/** @param {number} pid */
export function stopGroup(pid) {
  live.delete(pid);
  void stopProcessGroup(pid, 5000);
}

/** Stop every child still running (a signal, a crash). */
export function stopLive() {
  for (const pid of live) stopGroup(pid);
}

/** @param {string} prefix */
export function mkdtemp(prefix) {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}
