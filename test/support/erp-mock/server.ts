import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { ErpDocumentType, GlMapping } from '../../../src/domain/erp/index.js';
import type { ErpSettings } from '../../../src/integrations/erp/connector.js';
import type { AddressInfo, Socket } from 'node:net';

/**
 * A local stand-in for one ERP vendor's API, started by the tests. The vendor module says how it
 * authenticates, which routes it serves, how its error envelope looks and how request bodies are
 * checked against the vendor's spec; this server adds what every fault test needs: injected
 * faults (a status, a 429 with Retry-After, an answer lost after the document was stored),
 * expiring tokens, holding a request until the test releases it, and a sliding-window rate limit.
 */

export interface MockRequest {
  method: string;
  /** The path without the query string. */
  path: string;
  query: URLSearchParams;
  headers: IncomingMessage['headers'];
  rawBody: string;
  /** The body parsed as JSON when it is JSON; otherwise undefined. */
  json: unknown;
  /** Regex groups of the matched route. */
  params: string[];
}

export interface MockResponse {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

export interface MockRoute {
  method: string;
  path: RegExp;
  /** Requests to this route skip authentication (token and login endpoints). */
  public?: boolean;
  handle(request: MockRequest, mock: ErpMock): MockResponse | Promise<MockResponse>;
}

export interface VendorMock {
  name: string;
  routes: MockRoute[];
  /** Null when the request carries valid credentials, else the vendor's 401 (or 403) answer. */
  authenticate(request: MockRequest, mock: ErpMock): MockResponse | null;
  /**
   * What is wrong with this request body against the vendor's spec (unknown fields, missing
   * required ones, wrong types); empty when it conforms. Violations are recorded on the mock
   * (tests assert none) and answered with `rejectInvalid`.
   */
  validate(request: MockRequest, route: MockRoute): string[];
  /** The vendor's answer to a body its spec refuses (its validation error envelope). */
  rejectInvalid(violations: string[]): MockResponse;
  /** The vendor's envelope for an injected status (a 500, a 429): body only, the server adds the status and Retry-After. */
  errorBody(status: number, message: string): unknown;
}

export type Fault =
  | { kind: 'status'; status: number; retryAfterSeconds?: number; message?: string }
  /** The request is carried out, then the connection is dropped before any answer. */
  | { kind: 'reset_after_success' }
  /** The request is carried out, then no answer comes until the client gives up. */
  | { kind: 'hang_after_success' };

interface QueuedFault {
  fault: Fault;
  match: (request: MockRequest) => boolean;
}

interface Hold {
  match: (request: MockRequest) => boolean;
  reached: Promise<void>;
  signalReached: () => void;
  released: Promise<'release' | 'drop'>;
  settle: (how: 'release' | 'drop') => void;
}

export interface HoldHandle {
  /** Resolves once a matching request arrived (and is being held). */
  reached: Promise<void>;
  /** Lets the held request be carried out and answered. */
  release(): void;
  /** Drops the held request's connection without carrying it out. */
  drop(): void;
}

export interface RecordedRequest {
  method: string;
  path: string;
  query: string;
  status: number;
  headers: IncomingMessage['headers'];
  body: string;
}

export interface ErpMock {
  url: string;
  vendor: VendorMock;
  /** Documents by collection (vendor-chosen names such as `Invoice`, `invoices`); each a list of stored records. */
  collections: Map<string, Record<string, unknown>[]>;
  collection(name: string): Record<string, unknown>[];
  /** Every request answered (or dropped), in order. */
  requests: RecordedRequest[];
  /** Bodies the vendor's spec refuses, with the request that carried them. */
  schemaViolations: { method: string; path: string; violations: string[] }[];
  /** Access tokens the mock's token endpoint issued and still honours. */
  validTokens: Set<string>;
  /** The next matching request (any API request when `match` is omitted) meets `fault`, `times` times. */
  inject(fault: Fault, options?: { match?: (request: MockRequest) => boolean; times?: number }): void;
  /** Every issued access token stops being accepted: the next API call gets a 401. */
  expireTokens(): void;
  hold(match: (request: MockRequest) => boolean): HoldHandle;
  /**
   * Faults drawn at random (a seeded generator, so runs repeat) for matching requests: each
   * request meets the first fault whose cumulative probability covers its draw (benchmarks).
   */
  setRandomFaults(faults: { fault: Fault; probability: number }[], options: { seed: number; match: (request: MockRequest) => boolean }): void;
  /** Vendor-style sliding-window limit: past `requests` in `windowMs`, a 429 with Retry-After. */
  setRateLimit(limit: { requests: number; windowMs: number; retryAfterSeconds: number } | null): void;
  /** State the vendor module keeps between requests (sessions, refresh tokens, sequences). */
  state: Map<string, unknown>;
  nextId(): number;
  close(): Promise<void>;
}

const readBody = (request: IncomingMessage) =>
  new Promise<string>((resolve, reject) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    request.on('error', reject);
  });

export async function startErpMock(vendor: VendorMock, options: { port?: number } = {}): Promise<ErpMock> {
  const faults: QueuedFault[] = [];
  const holds: Hold[] = [];
  let rateLimit: { requests: number; windowMs: number; retryAfterSeconds: number } | null = null;
  let randomFaults: { faults: { fault: Fault; probability: number }[]; match: (request: MockRequest) => boolean; next: () => number } | null = null;
  const window: number[] = [];
  let sequence = 1000;
  const sockets = new Set<Socket>();

  const mock: ErpMock = {
    url: '',
    vendor,
    collections: new Map(),
    collection(name) {
      let list = mock.collections.get(name);
      if (!list) {
        list = [];
        mock.collections.set(name, list);
      }
      return list;
    },
    requests: [],
    schemaViolations: [],
    validTokens: new Set(),
    inject(fault, injectOptions = {}) {
      for (let i = 0; i < (injectOptions.times ?? 1); i++) faults.push({ fault, match: injectOptions.match ?? (() => true) });
    },
    expireTokens() {
      mock.validTokens.clear();
    },
    hold(match) {
      let signalReached!: () => void;
      let settle!: (how: 'release' | 'drop') => void;
      const hold: Hold = {
        match,
        reached: new Promise((resolve) => (signalReached = resolve)),
        signalReached: () => signalReached(),
        released: new Promise((resolve) => (settle = resolve)),
        settle: (how) => settle(how),
      };
      holds.push(hold);
      return { reached: hold.reached, release: () => hold.settle('release'), drop: () => hold.settle('drop') };
    },
    setRandomFaults(faults, randomOptions) {
      // mulberry32: small, seeded, good enough to spread faults evenly.
      let state = randomOptions.seed >>> 0;
      const next = () => {
        state = (state + 0x6d2b79f5) >>> 0;
        let t = state;
        t = Math.imul(t ^ (t >>> 15), t | 1);
        t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
        return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
      };
      randomFaults = { faults, match: randomOptions.match, next };
    },
    setRateLimit(limit) {
      rateLimit = limit;
      window.length = 0;
    },
    state: new Map(),
    nextId: () => ++sequence,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };

  const send = (response: ServerResponse, answer: MockResponse) => {
    const headers: Record<string, string> = { ...answer.headers };
    let body = '';
    if (answer.body !== undefined) {
      body = typeof answer.body === 'string' ? answer.body : JSON.stringify(answer.body);
      headers['content-type'] ??= typeof answer.body === 'string' ? 'text/plain' : 'application/json';
    }
    response.writeHead(answer.status, headers);
    response.end(body);
  };

  async function handle(incoming: IncomingMessage, response: ServerResponse): Promise<void> {
    const url = new URL(incoming.url ?? '/', 'http://mock');
    const rawBody = await readBody(incoming);
    let json: unknown;
    if (rawBody.length > 0 && /json/i.test(incoming.headers['content-type'] ?? '')) {
      try {
        json = JSON.parse(rawBody);
      } catch {
        json = undefined;
      }
    }
    const method = incoming.method ?? 'GET';
    const record = (status: number) =>
      mock.requests.push({ method, path: url.pathname, query: url.search, status, headers: incoming.headers, body: rawBody });
    const route = vendor.routes.find((candidate) => candidate.method === method && candidate.path.test(url.pathname));
    const request: MockRequest = { method, path: url.pathname, query: url.searchParams, headers: incoming.headers, rawBody, json, params: [] };
    if (!route) {
      record(404);
      return send(response, { status: 404, body: vendor.errorBody(404, `no route for ${method} ${url.pathname}`) });
    }
    request.params = (route.path.exec(url.pathname) ?? []).slice(1);

    if (rateLimit && !route.public) {
      const now = Date.now();
      while (window.length > 0 && window[0]! <= now - rateLimit.windowMs) window.shift();
      if (window.length >= rateLimit.requests) {
        record(429);
        return send(response, { status: 429, body: vendor.errorBody(429, 'rate limit exceeded'), headers: { 'retry-after': String(rateLimit.retryAfterSeconds) } });
      }
      window.push(now);
    }
    if (!route.public) {
      const refusal = vendor.authenticate(request, mock);
      if (refusal) {
        record(refusal.status);
        return send(response, refusal);
      }
    }
    const hold = route.public ? undefined : holds.find((candidate) => candidate.match(request));
    if (hold) {
      holds.splice(holds.indexOf(hold), 1);
      hold.signalReached();
      if ((await hold.released) === 'drop') {
        record(0);
        incoming.socket.destroy();
        return;
      }
    }
    const faultIndex = route.public ? -1 : faults.findIndex((candidate) => candidate.match(request));
    let fault = faultIndex >= 0 ? faults.splice(faultIndex, 1)[0]!.fault : undefined;
    if (!fault && randomFaults && !route.public && randomFaults.match(request)) {
      let draw = randomFaults.next();
      for (const candidate of randomFaults.faults) {
        if (draw < candidate.probability) {
          fault = candidate.fault;
          break;
        }
        draw -= candidate.probability;
      }
    }
    if (fault?.kind === 'status') {
      record(fault.status);
      const headers: Record<string, string> = fault.retryAfterSeconds === undefined ? {} : { 'retry-after': String(fault.retryAfterSeconds) };
      return send(response, { status: fault.status, body: vendor.errorBody(fault.status, fault.message ?? `injected ${fault.status}`), headers });
    }
    if (json !== undefined || (rawBody.length > 0 && /json/i.test(incoming.headers['content-type'] ?? ''))) {
      const violations = json === undefined ? ['body is not valid JSON'] : vendor.validate(request, route);
      if (violations.length > 0) {
        mock.schemaViolations.push({ method, path: url.pathname, violations });
        const answer = vendor.rejectInvalid(violations);
        record(answer.status);
        return send(response, answer);
      }
    }
    const answer = await route.handle(request, mock);
    record(fault ? 0 : answer.status);
    if (fault?.kind === 'reset_after_success') {
      incoming.socket.destroy();
      return;
    }
    if (fault?.kind === 'hang_after_success') return;
    send(response, answer);
  }

  const server: Server = createServer((incoming, response) => {
    handle(incoming, response).catch((error: unknown) => {
      if (!response.headersSent) send(response, { status: 500, body: vendor.errorBody(500, String(error)) });
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, '127.0.0.1', resolve));
  mock.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return mock;
}

/** Issues a new access token at a mock's token endpoint. */
export function issueToken(mock: ErpMock, prefix: string): string {
  const token = `${prefix}-${mock.nextId()}-${Math.random().toString(36).slice(2)}`;
  mock.validTokens.add(token);
  return token;
}

/** The bearer token of a request, if any. */
export function bearerOf(request: MockRequest): string | undefined {
  const header = request.headers.authorization;
  return header?.startsWith('Bearer ') ? header.slice('Bearer '.length) : undefined;
}

/**
 * Everything a test needs to run one vendor's mock against its connector: the credentials the
 * mock accepts, settings pointing the connector at it, where it keeps each document type, and
 * GL mappings onto the accounts (or items) it has seeded.
 */
export interface VendorFixture {
  vendor: VendorMock;
  credentials: Record<string, string>;
  settings(mock: ErpMock): ErpSettings;
  /** The stored records of one Ledgerflow document type (e.g. QuickBooks `RefundReceipt`s for refunds). */
  documentsOf(mock: ErpMock, type: ErpDocumentType): Record<string, unknown>[];
  /** Mappings for every kind, onto accounts or items that exist in the mock. */
  glMappings: GlMapping[];
}
