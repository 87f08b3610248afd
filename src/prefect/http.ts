/**
 * fetch as the API client uses it. Node's own fetch ignores HTTP_PROXY and HTTPS_PROXY, so when
 * the environment names a proxy, undici's fetch goes through it (NO_PROXY honoured), as Prefect's
 * own client (httpx) does with the same variables. Private CAs come from NODE_EXTRA_CA_CERTS,
 * which Node reads itself at start-up.
 */
export type Fetch = typeof fetch;

const pick = (env: NodeJS.ProcessEnv, name: string): string | undefined =>
  env[name] || env[name.toLowerCase()] || undefined;

const proxyConfigured = (env: NodeJS.ProcessEnv): boolean =>
  Boolean(pick(env, 'HTTPS_PROXY') ?? pick(env, 'HTTP_PROXY'));

const agents = new Map<string, Promise<Fetch>>();

async function proxiedFetch(settings: { httpProxy?: string; httpsProxy?: string; noProxy?: string }): Promise<Fetch> {
  const undici = await import('undici');
  const dispatcher = new undici.EnvHttpProxyAgent(settings);
  return ((input: string, init: RequestInit) =>
    undici.fetch(input, { ...(init as Parameters<typeof undici.fetch>[1]), dispatcher })) as unknown as Fetch;
}

/** The fetch for this environment: through its proxy when it names one, else Node's own. */
export async function fetchFor(env: NodeJS.ProcessEnv): Promise<Fetch> {
  if (!proxyConfigured(env)) return fetch;
  const http = pick(env, 'HTTP_PROXY');
  const https = pick(env, 'HTTPS_PROXY') ?? http;
  const noProxy = pick(env, 'NO_PROXY');
  const settings = {
    ...(http ? { httpProxy: http } : {}),
    ...(https ? { httpsProxy: https } : {}),
    noProxy: noProxy ?? '',
  };
  const key = JSON.stringify(settings);
  let found = agents.get(key);
  if (!found) {
    found = proxiedFetch(settings);
    agents.set(key, found);
  }
  return found;
}
