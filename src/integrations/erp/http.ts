import { ErpError } from './errors.js';

/** A vendor's answer, its body parsed as JSON when it is JSON and kept as text otherwise. */
export interface ErpHttpResponse {
  status: number;
  headers: Headers;
  body: unknown;
  text: string;
}

export interface ErpHttpRequest {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  url: string;
  headers?: Record<string, string>;
  /** A JSON body (serialized here) or a prepared string body (form-encoded token requests). */
  json?: unknown;
  body?: string;
}

/**
 * The HTTP client connectors use. `send` waits for the integration's rate limiter first, so every
 * request of every workflow of one integration counts against one shared limit, and answers any
 * status: the connector classifies non-2xx itself. A network failure or timeout throws a
 * `transient` ErpError (the ERP may or may not have acted on it: the retry reconciles first).
 */
export interface ErpHttp {
  send(request: ErpHttpRequest): Promise<ErpHttpResponse>;
}

/** Waits until the integration may send one more request; `backOff` holds every sender of the integration for a while (a 429's Retry-After). */
export interface ErpRatePacer {
  acquire(): Promise<void>;
  backOff(ms: number): Promise<void>;
}

export const unpaced: ErpRatePacer = { acquire: async () => undefined, backOff: async () => undefined };

export function createErpHttp(options: { pacer: ErpRatePacer; timeoutMs: number; fetch?: typeof fetch }): ErpHttp {
  const send = options.fetch ?? fetch;
  return {
    async send(request) {
      await options.pacer.acquire();
      const headers: Record<string, string> = { accept: 'application/json', ...request.headers };
      let body = request.body;
      if (request.json !== undefined) {
        body = JSON.stringify(request.json);
        headers['content-type'] ??= 'application/json';
      }
      let response: Response;
      let text: string;
      try {
        response = await send(request.url, { method: request.method, headers, body, signal: AbortSignal.timeout(options.timeoutMs) });
        text = await response.text();
      } catch (error) {
        // By name, not instanceof: the abort reason is a DOMException, from another realm under some runners.
        const name = (error as { name?: unknown } | null)?.name;
        const reason = name === 'TimeoutError' || name === 'AbortError' ? `no answer within ${options.timeoutMs} ms` : String((error as { cause?: unknown } | null)?.cause ?? error);
        throw new ErpError('transient', `${request.method} ${new URL(request.url).pathname}: ${reason}`);
      }
      let parsed: unknown = text;
      if (text.length > 0 && /json/i.test(response.headers.get('content-type') ?? '')) {
        try {
          parsed = JSON.parse(text);
        } catch {
          parsed = text;
        }
      }
      const answer = { status: response.status, headers: response.headers, body: parsed, text };
      if (response.status === 429) await options.pacer.backOff(retryAfterMs(response.headers) ?? 1_000);
      return answer;
    },
  };
}

/** Retry-After in milliseconds, from seconds or an HTTP date; undefined when absent or unreadable. */
export function retryAfterMs(headers: Headers, now: number = Date.now()): number | undefined {
  const value = headers.get('retry-after');
  if (value === null || value.trim() === '') return undefined;
  if (/^\d+(\.\d+)?$/.test(value.trim())) return Math.round(Number(value) * 1_000);
  // Only an HTTP date (RFC 9110 IMF-fixdate): Date.parse reads much else as some date in the past.
  if (!/^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT$/.test(value.trim())) return undefined;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/** The start of a vendor's answer as the message of an error the vendor did not describe; `HTTP <status>` when the body is empty. */
export function bodyExcerpt(response: ErpHttpResponse, maxLength: number): string {
  return response.text.slice(0, maxLength) || `HTTP ${response.status}`;
}

export interface RateLimitedOptions {
  vendorCode?: string;
  /** The wait when the answer carries no Retry-After; 1 s unless given. */
  defaultWaitMs?: number;
  /** Names the vendor code beside the status: it says why an answer other than 429 is throttling. */
  codeBesideStatus?: boolean;
}

/** A `rate_limited` ErpError, waiting as long as the answer's Retry-After says. */
export function rateLimitedError(response: ErpHttpResponse, message: string, options: RateLimitedOptions = {}): ErpError {
  const { status } = response;
  const { vendorCode } = options;
  const label = options.codeBesideStatus && vendorCode !== undefined ? `${status} ${vendorCode}` : String(status);
  return new ErpError('rate_limited', `rate limited (${label}): ${message}`, {
    status,
    ...(vendorCode === undefined ? {} : { vendorCode }),
    retryAfterMs: retryAfterMs(response.headers) ?? options.defaultWaitMs ?? 1_000,
  });
}

/**
 * The classification most vendors share, given the vendor's own message: 429 → rate_limited
 * (after Retry-After), 401 → auth, 408 and 5xx → transient, any other 4xx → validation.
 */
export function classifyByStatus(response: ErpHttpResponse, message: string, vendorCode?: string): ErpError {
  const { status } = response;
  const details = { status, ...(vendorCode === undefined ? {} : { vendorCode }) };
  if (status === 429) return rateLimitedError(response, message, { vendorCode });
  if (status === 401) return new ErpError('auth', `credentials refused (401): ${message}`, details);
  if (status === 408 || status >= 500) return new ErpError('transient', `${status}: ${message}`, details);
  return new ErpError('validation', `${status}: ${message}`, details);
}

/** Throws the connector's classification of a non-2xx answer; returns 2xx answers as they are. */
export function expectOk(response: ErpHttpResponse, classify: (response: ErpHttpResponse) => ErpError): ErpHttpResponse {
  if (response.status >= 200 && response.status < 300) return response;
  throw classify(response);
}
