import { createHash } from 'node:crypto';
import { createServer, request as upstreamRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * What the proxy does to one request:
 * - `pass`: forward it.
 * - `500`, `429`: answer that status without forwarding (a failure in front of Stripe, before it
 *   executed anything, which Stripe's idempotency layer therefore does not remember).
 * - `reset`: destroy the connection before forwarding.
 * - `timeout_after_success`: forward it (Stripe executes and remembers it), then never answer,
 *   so the client times out not knowing it succeeded.
 * - `500_after_success`: forward it, then answer 500 instead of Stripe's response.
 */
export type Fault = 'pass' | '500' | '429' | 'reset' | 'timeout_after_success' | '500_after_success' | 'reset_after_success';

export interface RequestMatch {
  method: string;
  /** The exact path, or a pattern for paths with ids. */
  path: string | RegExp;
}

export interface UpstreamResponse {
  status: number;
  body: Record<string, unknown>;
}

/**
 * Changes a response before it is remembered and returned: the state stripe-mock, being
 * stateless, cannot have. Returning undefined leaves the response to earlier rewrites.
 */
export type ResponseRewrite = (
  response: UpstreamResponse,
  request: { method: string; path: string; params: URLSearchParams },
) => UpstreamResponse | undefined;

export interface ProxiedRequest {
  method: string;
  path: string;
  idempotencyKey: string | null;
  /** The form-encoded parameters of a POST (empty until its body is read; a reset request has none). */
  params: URLSearchParams;
  fault: Fault;
  /** Reached stripe-mock (Stripe executed it). */
  forwarded: boolean;
  /** Answered from the remembered response of an earlier request with the same key. */
  replayed: boolean;
  /** The status the client was sent (null: no answer, the connection was reset or left hanging). */
  status: number | null;
}

export interface StripeFaultProxy {
  url: string;
  /** Every request received, in order. */
  readonly requests: readonly ProxiedRequest[];
  /**
   * Holds requests matching `match` before they reach Stripe until `release()`; a held request whose
   * client has gone meanwhile (a worker killed) is dropped, never forwarded.
   */
  hold(match: RequestMatch): { held: () => number; release: () => void };
  /** Applies `faults`, in order, to the next requests matching `match`; later ones pass. */
  injectFaults(faults: readonly Fault[], match?: RequestMatch): void;
  /** Rewrites stripe-mock's responses to requests matching `match` (later rewrites are asked first). */
  rewrite(match: RequestMatch, rewrite: ResponseRewrite): void;
  /** How often a PaymentIntent creation reached stripe-mock, per idempotency key (`(none)` without one). */
  paymentIntentCreations(): Record<string, number>;
  stop(): Promise<void>;
}

export const paymentIntentCreation: RequestMatch = { method: 'POST', path: '/v1/payment_intents' };

const matches = (match: RequestMatch, method: string, path: string) =>
  match.method === method && (typeof match.path === 'string' ? match.path === path : match.path.test(path));

const stripeError = (error: Record<string, unknown>) => Buffer.from(JSON.stringify({ error }), 'utf8');

interface Remembered {
  requestHash: string;
  status: number;
  body: Buffer;
}

function readBody(request: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => resolve(Buffer.concat(chunks)));
    request.on('error', reject);
  });
}

function forward(upstream: URL, request: IncomingMessage, path: string, body: Buffer): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const outgoing = upstreamRequest(
      { host: upstream.hostname, port: upstream.port, method: request.method, path, headers: { ...request.headers, host: upstream.host, 'content-length': String(body.length) } },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => resolve({ status: response.statusCode ?? 502, body: Buffer.concat(chunks) }));
        response.on('error', reject);
      },
    );
    outgoing.on('error', reject);
    outgoing.end(body);
  });
}

/**
 * An HTTP proxy in front of stripe-mock that injects faults and emulates Stripe's idempotency:
 * the first completed request per `Idempotency-Key` is remembered, a later request with that
 * key and the same parameters gets the remembered response (`Idempotent-Replayed: true`), other
 * parameters get Stripe's 400 `idempotency_error`, and a request while the first is still
 * running gets Stripe's 409. stripe-mock itself is stateless and would create again.
 */
export async function startStripeFaultProxy(upstreamUrl: string): Promise<StripeFaultProxy> {
  const upstream = new URL(upstreamUrl);
  const requests: ProxiedRequest[] = [];
  const plans: { match: RequestMatch; faults: Fault[] }[] = [];
  const rewrites: { match: RequestMatch; rewrite: ResponseRewrite }[] = [];
  const remembered = new Map<string, Remembered>();
  const inFlight = new Set<string>();
  const creations: Record<string, number> = {};
  const holds: { match: RequestMatch; waiting: number; released: Promise<void>; release: () => void }[] = [];

  function nextFault(method: string, path: string): Fault {
    const plan = plans.find((candidate) => candidate.faults.length > 0 && matches(candidate.match, method, path));
    return plan?.faults.shift() ?? 'pass';
  }

  async function execute(record: ProxiedRequest, request: IncomingMessage, body: Buffer): Promise<{ status: number; body: Buffer }> {
    const { method, path } = record;
    record.forwarded = true;
    if (matches(paymentIntentCreation, method, path)) {
      const key = request.headers['idempotency-key']?.toString() ?? '(none)';
      creations[key] = (creations[key] ?? 0) + 1;
    }
    const response = await forward(upstream, request, request.url ?? path, body);
    const applicable = rewrites.filter((candidate) => matches(candidate.match, method, path)).reverse();
    if (applicable.length === 0) return response;
    const original = { status: response.status, body: JSON.parse(response.body.toString('utf8')) as Record<string, unknown> };
    const context = { method, path, params: new URLSearchParams(body.toString('utf8')) };
    for (const { rewrite } of applicable) {
      const rewritten = rewrite(original, context);
      if (rewritten) return { status: rewritten.status, body: Buffer.from(JSON.stringify(rewritten.body), 'utf8') };
    }
    return response;
  }

  async function handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const method = request.method ?? 'GET';
    const path = new URL(request.url ?? '/', 'http://proxy').pathname;
    const key = method === 'POST' ? (request.headers['idempotency-key']?.toString() ?? null) : null;
    const fault = nextFault(method, path);
    const record: ProxiedRequest = { method, path, idempotencyKey: key, params: new URLSearchParams(), fault, forwarded: false, replayed: false, status: null };
    requests.push(record);
    if (fault === 'reset') {
      request.socket.destroy();
      return;
    }
    const body = await readBody(request);
    record.params = new URLSearchParams(body.toString('utf8'));
    const hold = holds.find((candidate) => matches(candidate.match, method, path));
    if (hold) {
      hold.waiting += 1;
      await hold.released;
      if (request.socket.destroyed || response.destroyed) return;
    }
    const send = (status: number, payload: Buffer, headers: Record<string, string> = {}) => {
      record.status = status;
      response.writeHead(status, { 'content-type': 'application/json', 'request-id': `req_proxy_${requests.length}`, ...headers });
      response.end(payload);
    };
    if (fault === '500') return send(500, stripeError({ type: 'api_error', message: 'Injected: an error in front of Stripe.' }));
    if (fault === '429') return send(429, stripeError({ type: 'invalid_request_error', code: 'rate_limit', message: 'Injected: too many requests.' }));

    let result: { status: number; body: Buffer; replayed: boolean };
    if (key === null) {
      result = { ...(await execute(record, request, body)), replayed: false };
    } else {
      const requestHash = createHash('sha256').update(`${method} ${path}\n`).update(body).digest('hex');
      const first = remembered.get(key);
      if (first && first.requestHash !== requestHash) {
        return send(
          400,
          stripeError({
            type: 'idempotency_error',
            message: `Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '${key}'.`,
          }),
        );
      }
      if (first) {
        result = { status: first.status, body: first.body, replayed: true };
      } else if (inFlight.has(key)) {
        return send(
          409,
          stripeError({ type: 'idempotency_error', code: 'idempotency_key_in_use', message: 'There is currently another in-progress request using this Idempotent Key.' }),
        );
      } else {
        inFlight.add(key);
        try {
          const executed = await execute(record, request, body);
          remembered.set(key, { requestHash, status: executed.status, body: executed.body });
          result = { ...executed, replayed: false };
        } finally {
          inFlight.delete(key);
        }
      }
    }
    record.replayed = result.replayed;
    // The client gives up first; the response is dropped when it closes the connection.
    if (fault === 'timeout_after_success') return;
    if (fault === '500_after_success') return send(500, stripeError({ type: 'api_error', message: 'Injected: the response was lost.' }));
    if (fault === 'reset_after_success') {
      request.socket.destroy();
      return;
    }
    send(result.status, result.body, result.replayed ? { 'idempotent-replayed': 'true' } : {});
  }

  const server = createServer((request, response) => {
    handle(request, response).catch((error: unknown) => {
      if (!response.headersSent) response.writeHead(502, { 'content-type': 'application/json' });
      response.end(stripeError({ type: 'api_error', message: `proxy failure: ${String(error)}` }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    hold: (match) => {
      let release = () => undefined as void;
      const released = new Promise<void>((resolve) => (release = resolve));
      const hold = { match, waiting: 0, released, release: () => undefined as void };
      hold.release = () => {
        holds.splice(holds.indexOf(hold), 1);
        release();
      };
      holds.push(hold);
      return { held: () => hold.waiting, release: () => hold.release() };
    },
    injectFaults: (faults, match = paymentIntentCreation) => void plans.push({ match, faults: [...faults] }),
    rewrite: (match, rewrite) => void rewrites.push({ match, rewrite }),
    paymentIntentCreations: () => ({ ...creations }),
    stop: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Reads a PaymentIntent creation's `metadata[…]` parameters back (stripe-mock does not echo them). */
function metadataOf(params: URLSearchParams): Record<string, string> {
  return Object.fromEntries([...params].flatMap(([name, value]) => {
    const field = /^metadata\[(.+)\]$/.exec(name)?.[1];
    return field === undefined ? [] : [[field, value]];
  }));
}

/** PaymentIntents confirm successfully, with the metadata they were created with. */
export const paymentIntentsSucceed: ResponseRewrite = ({ body }, { params }) => ({
  status: 200,
  body: { ...body, status: 'succeeded', amount_received: body.amount, metadata: metadataOf(params), last_payment_error: null },
});

/** PaymentIntents are declined by the issuer as Stripe reports it: a 402 card_error carrying the failed intent. */
export const paymentIntentsDecline =
  (declineCode: string, adviceCode?: string): ResponseRewrite =>
  ({ body }, { params }) => {
    const error = {
      type: 'card_error',
      code: 'card_declined',
      decline_code: declineCode,
      ...(adviceCode ? { advice_code: adviceCode } : {}),
      message: 'Your card was declined.',
    };
    return {
      status: 402,
      body: { error: { ...error, payment_intent: { ...body, status: 'requires_payment_method', metadata: metadataOf(params), last_payment_error: error } } },
    };
  };
