import { messageOf, RehearseError } from '../errors.js';
import { sleep } from '../util/sleep.js';
import { type Fetch, fetchFor } from './http.js';

type HttpMethod = 'GET' | 'POST' | 'PATCH' | 'DELETE';

/** An API call as a value, like a Command: recorded in summary.json as made. */
export interface ApiRequest {
  method: HttpMethod;
  /** Path under the API root, e.g. `/deployments/name/flow/deployment`. */
  path: string;
  body?: unknown;
  readOnly: boolean;
  /** A write the server applies once however often it arrives (an idempotency key, a forced state): safe to resend. */
  retrySafe?: boolean;
}

export interface ApiResponse {
  request: ApiRequest;
  url: string;
  /** 0 when the server could not be reached. */
  status: number;
  text: string;
  startedAt: string;
  durationMs: number;
  networkError?: string;
  /** Set when rehearse's own abort signal (Ctrl-C, SIGTERM) stopped the request: no fault of the server. */
  interrupted?: boolean;
}

export interface PrefectApi {
  readonly baseUrl: string;
  request(request: ApiRequest, options?: { signal?: AbortSignal }): Promise<ApiResponse>;
}

export function isPrefectCloud(apiUrl: string): boolean {
  return /^https:\/\/api\.prefect\.(cloud|dev)\b/.test(apiUrl);
}

/**
 * An API URL without its userinfo (http://user:pass@host/api), and that userinfo as a basic-auth
 * string `user:pass`: the URL can then be shown, the credentials never are.
 */
export function splitApiUrl(raw: string): { url: string; authString?: string } {
  const match = /^([a-z][a-z0-9+.-]*:\/\/)([^/?#@\s]*)@/i.exec(raw);
  if (!match) return { url: raw };
  const url = `${match[1]}${raw.slice(match[0].length)}`;
  const userinfo = match[2] ?? '';
  if (!userinfo) return { url };
  const colon = userinfo.indexOf(':');
  const [user, pass] = colon < 0 ? [userinfo, ''] : [userinfo.slice(0, colon), userinfo.slice(colon + 1)];
  return { url, authString: `${decodeUserinfo(user)}:${decodeUserinfo(pass)}` };
}

function decodeUserinfo(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/** The Authorization header Prefect's own client (3.9) sends: basic auth when there is an auth string, else the key. */
function authHeaders(credentials: {
  apiKey?: string | undefined;
  authString?: string | undefined;
}): Record<string, string> {
  const { authString } = credentials;
  if (authString) return { authorization: `Basic ${Buffer.from(authString, 'utf8').toString('base64')}` };
  if (credentials.apiKey) return { authorization: `Bearer ${credentials.apiKey}` };
  return {};
}

/** The same header from the environment rehearse runs in (for the browser, which talks to the API too). */
export const envAuthHeaders = (env: NodeJS.ProcessEnv): Record<string, string> =>
  authHeaders({ apiKey: env.PREFECT_API_KEY, authString: env.PREFECT_API_AUTH_STRING });

/** Lets `learn` see every JSON answer first: values under secret-named keys are known before anything prints them. */
export function learningApi(api: PrefectApi, learn: (answer: unknown) => void): PrefectApi {
  return {
    baseUrl: api.baseUrl,
    async request(request, options) {
      const response = await api.request(request, options);
      if (response.text && /^\s*[[{]/.test(response.text)) {
        try {
          learn(JSON.parse(response.text));
        } catch {
          // Not JSON after all: expectJson reports that to whoever reads it.
        }
      }
      return response;
    },
  };
}

/**
 * One request; with `wait` (resending is safe) resent up to five times on a 503, which SQLite-backed
 * servers answer while the database is locked: a short wait clears it.
 */
async function sendResending(
  send: Fetch,
  url: string,
  init: RequestInit,
  wait: ((ms: number) => Promise<void>) | undefined,
): Promise<Response> {
  for (let tries = 1; ; tries += 1) {
    const response = await send(url, init);
    if (response.status !== 503 || tries >= 5 || !wait) return response;
    await response.arrayBuffer();
    await wait(200 * tries);
  }
}

/** Why a request got no answer: the deadline, or the network's own code (ECONNREFUSED) or message. */
function failureOf(error: unknown, timedOut: boolean, timeoutMs: number): string {
  if (timedOut) return `no answer within ${timeoutMs} ms`;
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? messageOf(error);
}

/** A direct client of the Prefect REST API: exact JSON, no Python start-up per call. */
export function createPrefectApi(options: {
  apiUrl: string;
  apiKey?: string;
  authString?: string;
  timeoutMs: number;
  /** Where HTTP(S)_PROXY and NO_PROXY are read from (the process's environment by default). */
  env?: NodeJS.ProcessEnv;
  /** The wait before a resend; tests record it instead of waiting. */
  sleep?: (ms: number) => Promise<void>;
}): PrefectApi {
  // Userinfo in the URL is basic auth: fetch refuses such URLs, and they must never be shown.
  const split = splitApiUrl(options.apiUrl);
  const baseUrl = split.url.replace(/\/+$/, '');
  const auth = authHeaders({ apiKey: options.apiKey, authString: split.authString ?? options.authString });
  const wait = options.sleep ?? sleep;
  return {
    baseUrl,
    async request(request, { signal } = {}) {
      const url = `${baseUrl}${request.path}`;
      const started = Date.now();
      const timing = () => ({ startedAt: new Date(started).toISOString(), durationMs: Date.now() - started });
      const headers: Record<string, string> = { accept: 'application/json' };
      if (request.body !== undefined) headers['content-type'] = 'application/json';
      Object.assign(headers, auth);
      const timeout = AbortSignal.timeout(options.timeoutMs);
      // A POST that creates something is resent only when it says a duplicate cannot result.
      const resendable = request.readOnly || request.method !== 'POST' || request.retrySafe === true;
      const init = {
        method: request.method,
        headers,
        ...(request.body === undefined ? {} : { body: JSON.stringify(request.body) }),
        signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
      };
      try {
        const send = await fetchFor(options.env ?? process.env);
        const response = await sendResending(send, url, init, resendable ? wait : undefined);
        const text = await response.text();
        return {
          request,
          url,
          status: response.status,
          text,
          ...timing(),
        };
      } catch (error) {
        const interrupted = signal?.aborted === true && !timeout.aborted;
        const message = interrupted ? 'interrupted' : failureOf(error, timeout.aborted, options.timeoutMs);
        return {
          request,
          url,
          status: 0,
          text: '',
          ...timing(),
          networkError: message,
          ...(interrupted ? { interrupted } : {}),
        };
      }
    },
  };
}

/** Throws an actionable error unless the response is a 2xx; returns the parsed JSON body. */
export function expectJson(response: ApiResponse, what: string): unknown {
  if (response.interrupted) throw new RehearseError('INTERRUPTED', `interrupted while ${what}`);
  if (response.status === 0) {
    throw new RehearseError(
      'API_UNREACHABLE',
      `the Prefect API at ${response.url.replace(response.request.path, '')} did not answer while ${what} (${response.networkError})`,
      {
        hint: 'check PREFECT_API_URL, or start the local stack with `rehearse sandbox up`',
      },
    );
  }
  if (response.status < 200 || response.status >= 300) {
    throw new RehearseError('API_ERROR', `the Prefect API answered ${response.status} while ${what}`, {
      details: [`${response.request.method} ${response.url}`, response.text.slice(0, 400)],
      hint:
        response.status === 401 || response.status === 403
          ? 'set PREFECT_API_AUTH_STRING (user:pass) for a self-hosted server with basic auth, or PREFECT_API_KEY for Prefect Cloud'
          : 'see the details above',
    });
  }
  try {
    return JSON.parse(response.text) as unknown;
  } catch {
    throw new RehearseError('UNEXPECTED_OUTPUT', `the Prefect API returned something other than JSON while ${what}`, {
      details: [response.text.slice(0, 400)],
    });
  }
}
