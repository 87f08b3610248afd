import { describe, expect, it } from 'vitest';
import { isEnded, parseProcStat } from '../../../src/process/proc.js';

// Lines as Linux writes /proc/PID/stat (fields after the 20th cut short).
const line = (name: string, state: string) =>
  `4242 (${name}) ${state} 1 4242 4242 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 987654 rest`;

describe('parseProcStat', () => {
  it('reads state, parent, group, session and start time after a command name with spaces and parentheses', () => {
    expect(parseProcStat(4242, line('uv run (x) y', 'S'))).toEqual({
      pid: 4242,
      state: 'S',
      ppid: 1,
      pgrp: 4242,
      session: 4242,
      startTime: '987654',
    });
  });

  it('is undefined for text that is not a stat line', () => {
    expect(parseProcStat(1, 'not a pid')).toBeUndefined();
    expect(parseProcStat(1, '')).toBeUndefined();
  });

  it('counts a zombie and a dead process as ended, a sleeping or stopped one not', () => {
    const ended = (state: string) => isEnded(parseProcStat(4242, line('sleep', state)) ?? expect.unreachable());
    expect([ended('Z'), ended('X'), ended('S'), ended('R'), ended('T')]).toEqual([true, true, false, false, false]);
  });
});
