/**
 * How many e2e test files run at once, each on a sandbox of its own (global-setup.ts starts one per
 * worker). Most of a case is waiting on runs that sleep through their days, so on two cores three
 * streams keep the machine busy where two left a third of it idle. `REHEARSE_E2E_WORKERS=1` runs the
 * files one at a time on one sandbox.
 */
export const E2E_WORKERS = Math.max(1, Number(process.env.REHEARSE_E2E_WORKERS ?? 3) || 1);
