import type { FlowRun } from '../../src/prefect/schemas.js';

/** A flow run as the API lists it, named `run-<id>`, in a state type (e.g. RUNNING) with its usual name. */
export const flowRun = (id: string, state: string): FlowRun => ({
  id,
  name: `run-${id}`,
  state_type: state,
  state_name: state.charAt(0) + state.slice(1).toLowerCase(),
  parameters: {},
  tags: [],
});
