import { RehearseError } from '../errors.js';

export type HttpMethod = 'GET' | 'POST' | 'PATCH' | 'DELETE';

/** An API call as a value, like a Command: recorded in summary.json as made. */
export interface ApiRequest {
  method: HttpMethod;
  /** Path under the API root, e.g. `/deployments/name/flow/deployment`. */
  path: string;
  body?: unknown;
  readOnly: boolean;
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
}

export interface PrefectApi {
  readonly baseUrl: string;
  request(request: ApiRequest, options?: { signal?: AbortSignal }): Promise<ApiResponse>;
}

export function isPrefectCloud(apiUrl: string): boolean {
  return /^https:\/\/api\.prefect\.(cloud|dev)\b/.test(apiUrl);
}

/** A direct client of the Prefect REST API: exact JSON, no Python start-up per call. */
export function createPrefectApi(options: { apiUrl: string; apiKey?: string; timeoutMs: number }): PrefectApi {
  const baseUrl = options.apiUrl.replace(/\/+$/, '');
  return {
    baseUrl,
    async request(request, { signal } = {}) {
      const url = `${baseUrl}${request.path}`;
      const started = Date.now();
      const headers: Record<string, string> = { accept: 'application/json' };
      if (request.body !== undefined) headers['content-type'] = 'application/json';
      if (options.apiKey) headers.authorization = `Bearer ${options.apiKey}`;
      const timeout = AbortSignal.timeout(options.timeoutMs);
      const attempt = async (): Promise<Response> => {
        // SQLite-backed servers answer 503 while the database is locked: a short wait clears it.
        for (let tries = 1; ; tries += 1) {
          const response = await fetch(url, {
            method: request.method,
            headers,
            ...(request.body === undefined ? {} : { body: JSON.stringify(request.body) }),
            signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
          });
          if (response.status !== 503 || tries >= 5) return response;
          await response.arrayBuffer();
          await new Promise((resolve) => setTimeout(resolve, 200 * tries));
        }
      };
      try {
        const response = await attempt();
        const text = await response.text();
        return { request, url, status: response.status, text, startedAt: new Date(started).toISOString(), durationMs: Date.now() - started };
      } catch (error) {
        const cause = (error as { cause?: { code?: string; message?: string } }).cause;
        const message = timeout.aborted ? `no answer within ${options.timeoutMs} ms` : (cause?.code ?? cause?.message ?? (error as Error).message);
        return { request, url, status: 0, text: '', startedAt: new Date(started).toISOString(), durationMs: Date.now() - started, networkError: message };
      }
    },
  };
}

/** Throws an actionable error unless the response is a 2xx; returns the parsed JSON body. */
export function expectJson(response: ApiResponse, what: string): unknown {
  if (response.status === 0) {
    throw new RehearseError('API_UNREACHABLE', `the Prefect API at ${response.url.replace(response.request.path, '')} did not answer while ${what} (${response.networkError})`, {
      hint: 'check PREFECT_API_URL, or start the local stack with `rehearse sandbox up`',
    });
  }
  if (response.status < 200 || response.status >= 300) {
    throw new RehearseError('API_ERROR', `the Prefect API answered ${response.status} while ${what}`, {
      details: [`${response.request.method} ${response.url}`, response.text.slice(0, 400)],
      hint: response.status === 401 || response.status === 403 ? 'set PREFECT_API_KEY to a key with access to this workspace' : 'see the details above',
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
