/** Polls `probe` every `everyMs` until it returns a value, or throws after `ms` naming what it waited for. */
export async function waitFor<T>(
  what: string,
  ms: number,
  probe: () => Promise<T | undefined>,
  everyMs = 500,
): Promise<T> {
  for (const end = Date.now() + ms; Date.now() < end; await new Promise((r) => setTimeout(r, everyMs))) {
    const found = await probe();
    if (found !== undefined) return found;
  }
  throw new Error(`timed out after ${ms} ms waiting for ${what}`);
}
