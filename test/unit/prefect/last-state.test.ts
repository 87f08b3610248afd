import { describe, expect, it } from 'vitest';
import { lastState } from '../../../src/prefect/schemas.js';

describe('lastState', () => {
  it('orders by time, whatever the offset the timestamps are written with', () => {
    const states = [
      { type: 'COMPLETED', timestamp: '2024-01-01T00:30:00+00:00' },
      // 00:00 UTC: earlier, though its text sorts last.
      { type: 'RUNNING', timestamp: '2024-01-01T01:00:00+01:00' },
    ];
    expect(lastState(states)?.type).toBe('COMPLETED');
  });

  it('is undefined for a run with no state', () => {
    expect(lastState([])).toBeUndefined();
  });
});
