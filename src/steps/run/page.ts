/** The run's page in the UI: the URL the CLI printed, else the server's own UI. */
export function runPageUrl(apiUrl: string, runId: string, printed: unknown): string {
  if (typeof printed === 'string' && printed.includes(runId)) return printed;
  return `${apiUrl.replace(/\/api\/?$/, '')}/runs/flow-run/${runId}`;
}
