import type { ApiRequest } from '../../src/prefect/api.js';
import type { StateHistoryFile } from '../../src/steps/capture/histories.js';
import { type FakeResponse, recorded } from './fake-api.js';

/**
 * Bursts recorded from the Prefect 3.9.1 sandbox (fixtures/prefect/3.9.1):
 * three runs under a deployment limit of 2 (rehearsal 20261126T012828Z, the CLI's run last),
 * and four runs at once while the deployment and pool allowed 4 and the global limit was inactive
 * (rehearsal 20261126T014917Z).
 */
export const LIMITED_BURST = 'flow-runs.burst.json';
export const UNLIMITED_BURST = 'flow-runs.burst-unlimited.json';

/** A flow run as /flow_runs/filter returned it; the fields the tests read, the rest untouched. */
export type RecordedRun = Record<string, unknown> & {
  id: string;
  name: string;
  deployment_id: string;
  state_type: string;
  state_name: string;
};
export type RecordedState = Record<string, unknown> & { id: string; type: string; name: string; timestamp: string };

export function recordedRuns(file: string): RecordedRun[] {
  return JSON.parse(recorded(file)) as RecordedRun[];
}

/** GET /flow_run_states/?flow_run_id=<id>, as recorded. */
export function recordedStates(runId: string): RecordedState[] {
  return JSON.parse(recorded(`flow-run-states.${runId}.json`)) as RecordedState[];
}

/** state-history.json as the capture step writes it (src/steps/capture/histories.ts), from a recorded burst. */
export function stateHistoryOf(file: string, asOf: string): StateHistoryFile {
  const runs = recordedRuns(file);
  return {
    asOf,
    deploymentId: runs[0]?.deployment_id ?? null,
    rehearsalRunIds: runs.map((r) => r.id),
    runs: runs.map((r) => ({
      runId: r.id,
      runName: r.name,
      rehearsal: true,
      states: recordedStates(r.id).map((s) => ({ id: s.id, timestamp: s.timestamp, type: s.type, name: s.name })),
    })),
  };
}

interface EventsBody {
  filter?: { event?: { name?: string[] }; occurred?: { since?: string; until?: string }; order?: 'ASC' | 'DESC' };
}

/**
 * POST /events/filter answered as the server does over the recorded concurrency-limit events:
 * only those named and within `occurred`, newest first unless ASC is asked. All 22 recorded fit one page.
 */
export function recordedEventsRoute(): (request: ApiRequest) => FakeResponse {
  const page = JSON.parse(recorded('events.concurrency-limit.json')) as {
    events: { occurred: string; event: string }[];
  };
  return (request) => {
    const filter = (request.body as EventsBody | undefined)?.filter ?? {};
    const since = filter.occurred?.since ? Date.parse(filter.occurred.since) : -Infinity;
    const until = filter.occurred?.until ? Date.parse(filter.occurred.until) : Infinity;
    const names = filter.event?.name;
    const events = page.events
      .filter(
        (e) =>
          (!names || names.includes(e.event)) && Date.parse(e.occurred) >= since && Date.parse(e.occurred) <= until,
      )
      .sort((a, b) => (filter.order === 'ASC' ? 1 : -1) * (Date.parse(a.occurred) - Date.parse(b.occurred)));
    return { status: 200, text: JSON.stringify({ events, total: events.length, next_page: null }) };
  };
}
