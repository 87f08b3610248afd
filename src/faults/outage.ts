import { type FaultSpec, stopsServer } from '../config/faults.js';
import type { PrefectApi } from '../prefect/api.js';

/**
 * While restart-api or api-outage has the sandbox's server down, every API call of the rehearsal (the watch,
 * inspect beside it, the claim's renewal) rides the gap out: a call the stopped server did not answer waits
 * until the fault has started it again, then is sent once more. The wait is bounded by the fault itself (its
 * down seconds and the restart's own deadline), and a call that may not be resent is not.
 */
export interface OutageGate {
  /** The server is being stopped on purpose. */
  begin(): void;
  /** The server was started again (answering or not): waiting calls are resent. */
  end(): void;
  /** Whether the server is down on purpose now. */
  down(): boolean;
  /** The API with calls that failed in the gap resent once the gap is over. */
  wrap(api: PrefectApi): PrefectApi;
}

/** A gate for rehearsals that stop the server; none for any other. */
export function outageGateFor(faults: readonly FaultSpec[]): OutageGate | undefined {
  return faults.some((fault) => stopsServer(fault.kind)) ? createOutageGate() : undefined;
}

export function createOutageGate(now: () => number = Date.now): OutageGate {
  let gap: { back: Promise<void>; open: () => void } | undefined;
  /** When the last gap ended: a call sent before it may have failed in it. */
  let endedAt = Number.NEGATIVE_INFINITY;
  const gate: OutageGate = {
    begin() {
      if (gap) return;
      let open: () => void = () => {};
      const back = new Promise<void>((resolve) => {
        open = resolve;
      });
      gap = { back, open };
    },
    end() {
      endedAt = now();
      gap?.open();
      gap = undefined;
    },
    down: () => gap !== undefined,
    wrap(api) {
      return {
        baseUrl: api.baseUrl,
        async request(request, options) {
          const sentAt = now();
          const response = await api.request(request, options);
          const resendable = request.readOnly || request.method !== 'POST' || request.retrySafe === true;
          const inGap = gap !== undefined || sentAt <= endedAt;
          if (response.status !== 0 || response.interrupted || !resendable || !inGap) return response;
          await gap?.back;
          return gate.wrap(api).request(request, options);
        },
      };
    },
  };
  return gate;
}
