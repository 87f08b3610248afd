import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { FLOW_STARTER_DIR, flowStarterArgs, flowStarterEnv } from '../../../src/sandbox/flow-starter.js';

const starter = { pid: 41, log: '/state/flow-starter.log', socket: '/state/flow-starter.sock' };

describe('the warm flow starter’s part of a worker’s environment', () => {
  it('names the socket and puts the hand-over module first on PYTHONPATH, keeping the project’s own', () => {
    expect(flowStarterEnv({ flowStarter: starter, projectEnv: { PYTHONPATH: '/project/lib' } }, {})).toEqual({
      REHEARSE_FLOW_STARTER: '/state/flow-starter.sock',
      PYTHONPATH: [FLOW_STARTER_DIR, '/project/lib'].join(path.delimiter),
    });
    expect(flowStarterEnv({ flowStarter: starter }, { PYTHONPATH: '/inherited' }).PYTHONPATH).toBe(
      [FLOW_STARTER_DIR, '/inherited'].join(path.delimiter),
    );
    expect(flowStarterEnv({ flowStarter: starter }, {}).PYTHONPATH).toBe(FLOW_STARTER_DIR);
  });

  it('adds nothing without a starter (staging timing, or one that did not start)', () => {
    expect(flowStarterEnv({ projectEnv: { PYTHONPATH: '/project/lib' } }, { PYTHONPATH: '/inherited' })).toEqual({});
  });

  it('runs the starter shipped beside the hand-over module, on a socket in the sandbox home', () => {
    expect(flowStarterArgs('/state')).toEqual([
      'python',
      path.join(FLOW_STARTER_DIR, 'starter.py'),
      '/state/flow-starter.sock',
    ]);
    expect(path.basename(FLOW_STARTER_DIR)).toBe('flow-starter');
  });
});
