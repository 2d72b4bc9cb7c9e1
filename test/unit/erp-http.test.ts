import { describe, expect, it } from '@jest/globals';
import { ErpError } from '../../src/integrations/erp/connector.js';
import { classifyByStatus, createErpHttp, expectOk, retryAfterMs, unpaced, type ErpHttpResponse, type ErpRatePacer } from '../../src/integrations/erp/http.js';

const now = Date.parse('2027-05-01T12:00:00.000Z');
const headersWith = (retryAfter?: string) => new Headers(retryAfter === undefined ? {} : { 'retry-after': retryAfter });
const answer = (status: number, retryAfter?: string): ErpHttpResponse => ({ status, headers: headersWith(retryAfter), body: { error: 'x' }, text: '{"error":"x"}' });

function caught(run: () => unknown): unknown {
  try {
    run();
  } catch (error) {
    return error;
  }
  throw new Error('expected a throw');
}

async function rejected(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

describe('retryAfterMs', () => {
  it.each<[string | undefined, number | undefined]>([
    ['120', 120_000],
    ['0', 0],
    ['1.5', 1_500],
    ['0.25', 250],
    [' 7 ', 7_000],
    ['Sat, 01 May 2027 12:00:30 GMT', 30_000],
    ['Sat, 01 May 2027 12:02:00 GMT', 120_000],
    ['Sat, 01 May 2027 11:59:00 GMT', 0],
    [undefined, undefined],
    ['', undefined],
    ['   ', undefined],
    ['soon', undefined],
    ['12 apples', undefined],
    ['foo 1', undefined],
    ['-5', undefined],
    ['1e3', undefined],
  ])('Retry-After %j → %j ms', (value, ms) => {
    expect(retryAfterMs(headersWith(value), now)).toBe(ms);
  });

  it('measures a date from the current time by default', () => {
    const inAMinute = new Date(Date.now() + 60_000).toUTCString();
    const ms = retryAfterMs(headersWith(inAMinute));
    expect(ms).toBeGreaterThan(58_000);
    expect(ms).toBeLessThanOrEqual(60_000);
  });
});

describe('classifyByStatus', () => {
  it.each<[number, string | undefined, string, string, number | undefined]>([
    [429, '30', 'rate_limited', 'rate limited (429): quota', 30_000],
    [429, '0.5', 'rate_limited', 'rate limited (429): quota', 500],
    [429, undefined, 'rate_limited', 'rate limited (429): quota', 1_000],
    [429, 'later', 'rate_limited', 'rate limited (429): quota', 1_000],
    [401, undefined, 'auth', 'credentials refused (401): quota', undefined],
    [408, undefined, 'transient', '408: quota', undefined],
    [500, undefined, 'transient', '500: quota', undefined],
    [502, undefined, 'transient', '502: quota', undefined],
    [503, '30', 'transient', '503: quota', undefined],
    [400, undefined, 'validation', '400: quota', undefined],
    [403, undefined, 'validation', '403: quota', undefined],
    [404, undefined, 'validation', '404: quota', undefined],
    [409, undefined, 'validation', '409: quota', undefined],
    [422, undefined, 'validation', '422: quota', undefined],
  ])('%i (Retry-After %j) → %s', (status, retryAfter, kind, message, retryAfterMsDetail) => {
    const error = classifyByStatus(answer(status, retryAfter), 'quota');
    expect(error).toBeInstanceOf(ErpError);
    expect(error.kind).toBe(kind);
    expect(error.message).toBe(message);
    expect(error.message).toContain(String(status));
    expect(error.details).toEqual(retryAfterMsDetail === undefined ? { status } : { status, retryAfterMs: retryAfterMsDetail });
  });

  it('keeps the vendor’s code in the details', () => {
    expect(classifyByStatus(answer(400), 'Duplicate Document Number', '6140').details).toEqual({ status: 400, vendorCode: '6140' });
    expect(classifyByStatus(answer(429), 'slow down', 'THROTTLED').details).toEqual({ status: 429, vendorCode: 'THROTTLED', retryAfterMs: 1_000 });
  });
});

describe('expectOk', () => {
  const classify = (response: ErpHttpResponse) => new ErpError('validation', `classified ${response.status}`);

  it.each([200, 201, 204, 299])('returns a %i answer as it is', (status) => {
    const response = answer(status);
    expect(expectOk(response, classify)).toBe(response);
  });

  it.each([199, 300, 304, 400, 401, 429, 500])('throws the classification of a %i answer', (status) => {
    const error = caught(() => expectOk(answer(status), classify));
    expect(error).toBeInstanceOf(ErpError);
    expect((error as ErpError).message).toBe(`classified ${status}`);
  });
});

describe('createErpHttp', () => {
  type Call = { url: string; init: RequestInit };

  function recordingPacer(events: string[]): ErpRatePacer & { backOffs: number[] } {
    const backOffs: number[] = [];
    return {
      backOffs,
      acquire: async () => {
        events.push('acquire');
      },
      backOff: async (ms) => {
        events.push(`backOff ${ms}`);
        backOffs.push(ms);
      },
    };
  }

  function fakeFetch(events: string[], calls: Call[], respond: () => Response): typeof fetch {
    const fake: typeof fetch = async (input, init) => {
      events.push('fetch');
      calls.push({ url: input instanceof Request ? input.url : input.toString(), init: init ?? {} });
      return respond();
    };
    return fake;
  }

  it('paces, then sends JSON and parses a JSON answer', async () => {
    const events: string[] = [];
    const calls: Call[] = [];
    const pacer = recordingPacer(events);
    const http = createErpHttp({
      pacer,
      timeoutMs: 5_000,
      fetch: fakeFetch(events, calls, () => new Response('{"Id":"58","SyncToken":"0"}', { status: 200, headers: { 'content-type': 'application/json;charset=UTF-8' } })),
    });
    const response = await http.send({ method: 'POST', url: 'https://erp.test/v3/company/9130/invoice?minorversion=75', headers: { authorization: 'Bearer t1' }, json: { DocNumber: 'INV-1' } });
    expect(response.status).toBe(200);
    expect(response.body).toEqual({ Id: '58', SyncToken: '0' });
    expect(response.text).toBe('{"Id":"58","SyncToken":"0"}');
    expect(events).toEqual(['acquire', 'fetch']);
    expect(calls).toHaveLength(1);
    expect(calls[0]!.url).toBe('https://erp.test/v3/company/9130/invoice?minorversion=75');
    expect(calls[0]!.init.method).toBe('POST');
    expect(calls[0]!.init.body).toBe('{"DocNumber":"INV-1"}');
    expect(calls[0]!.init.headers).toEqual({ accept: 'application/json', authorization: 'Bearer t1', 'content-type': 'application/json' });
    expect(calls[0]!.init.signal).toBeInstanceOf(AbortSignal);
    expect(pacer.backOffs).toEqual([]);
  });

  it('sends a prepared body as it is and keeps a caller’s content type', async () => {
    const calls: Call[] = [];
    const http = createErpHttp({ pacer: unpaced, timeoutMs: 5_000, fetch: fakeFetch([], calls, () => new Response('{"access_token":"a"}', { headers: { 'content-type': 'application/json' } })) });
    await http.send({ method: 'POST', url: 'https://erp.test/oauth2/token', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'grant_type=refresh_token&refresh_token=r1' });
    await http.send({ method: 'PUT', url: 'https://erp.test/x', headers: { 'content-type': 'application/vnd.api+json' }, json: { a: 1 } });
    await http.send({ method: 'GET', url: 'https://erp.test/y' });
    expect(calls.map((call) => [call.init.method, call.init.body, call.init.headers])).toEqual([
      ['POST', 'grant_type=refresh_token&refresh_token=r1', { accept: 'application/json', 'content-type': 'application/x-www-form-urlencoded' }],
      ['PUT', '{"a":1}', { accept: 'application/json', 'content-type': 'application/vnd.api+json' }],
      ['GET', undefined, { accept: 'application/json' }],
    ]);
  });

  it.each<[string, string, string | null, unknown]>([
    ['XML', '<Fault><Error code="6140"/></Fault>', 'application/xml', '<Fault><Error code="6140"/></Fault>'],
    ['plain text', 'Service Unavailable', 'text/plain', 'Service Unavailable'],
    ['JSON-looking text without a content type', '{"a":1}', null, '{"a":1}'],
    ['malformed JSON', '{"a":', 'application/json', '{"a":'],
    ['an empty JSON answer', '', 'application/json', ''],
    ['a JSON problem', '{"title":"bad"}', 'application/problem+json', { title: 'bad' }],
  ])('keeps %s as the body it is', async (_, text, contentType, body) => {
    const http = createErpHttp({
      pacer: unpaced,
      timeoutMs: 5_000,
      fetch: fakeFetch([], [], () => new Response(text, { status: 400, headers: contentType === null ? {} : { 'content-type': contentType } })),
    });
    const response = await http.send({ method: 'GET', url: 'https://erp.test/z' });
    expect(response.status).toBe(400);
    expect(response.body).toEqual(body);
    expect(response.text).toBe(text);
  });

  it('acquires once before each request', async () => {
    const events: string[] = [];
    const http = createErpHttp({ pacer: recordingPacer(events), timeoutMs: 5_000, fetch: fakeFetch(events, [], () => new Response('ok')) });
    await http.send({ method: 'GET', url: 'https://erp.test/a' });
    await http.send({ method: 'GET', url: 'https://erp.test/b' });
    await http.send({ method: 'GET', url: 'https://erp.test/c' });
    expect(events).toEqual(['acquire', 'fetch', 'acquire', 'fetch', 'acquire', 'fetch']);
  });

  it('waits for the pacer before fetching', async () => {
    const events: string[] = [];
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const pacer: ErpRatePacer = { acquire: () => gate, backOff: async () => undefined };
    const http = createErpHttp({ pacer, timeoutMs: 5_000, fetch: fakeFetch(events, [], () => new Response('ok')) });
    const sent = http.send({ method: 'GET', url: 'https://erp.test/a' });
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(events).toEqual([]);
    release();
    await expect(sent).resolves.toMatchObject({ status: 200, body: 'ok' });
    expect(events).toEqual(['fetch']);
  });

  it.each<[string | undefined, number]>([
    ['7', 7_000],
    ['0.5', 500],
    [undefined, 1_000],
  ])('backs the pacer off after a 429 with Retry-After %j: %i ms, and returns the answer', async (retryAfter, ms) => {
    const events: string[] = [];
    const pacer = recordingPacer(events);
    const http = createErpHttp({
      pacer,
      timeoutMs: 5_000,
      fetch: fakeFetch(events, [], () => new Response('{"fault":"throttled"}', { status: 429, headers: { 'content-type': 'application/json', ...(retryAfter === undefined ? {} : { 'retry-after': retryAfter }) } })),
    });
    const response = await http.send({ method: 'GET', url: 'https://erp.test/a' });
    expect(response).toMatchObject({ status: 429, body: { fault: 'throttled' } });
    expect(events).toEqual(['acquire', 'fetch', `backOff ${ms}`]);
    expect(pacer.backOffs).toEqual([ms]);
  });

  it.each([200, 401, 500, 503])('does not back off after a %i', async (status) => {
    const pacer = recordingPacer([]);
    const http = createErpHttp({ pacer, timeoutMs: 5_000, fetch: fakeFetch([], [], () => new Response('', { status, headers: { 'retry-after': '9' } })) });
    await http.send({ method: 'GET', url: 'https://erp.test/a' });
    expect(pacer.backOffs).toEqual([]);
  });

  it('turns a network failure into a transient ErpError naming the request', async () => {
    const failing = (async () => {
      throw new TypeError('fetch failed', { cause: new Error('connect ECONNREFUSED 127.0.0.1:9') });
    }) as typeof fetch;
    const http = createErpHttp({ pacer: unpaced, timeoutMs: 5_000, fetch: failing });
    const error = await rejected(http.send({ method: 'POST', url: 'https://erp.test/v3/company/9130/invoice?minorversion=75', json: {} }));
    expect(error).toBeInstanceOf(ErpError);
    expect((error as ErpError).kind).toBe('transient');
    expect((error as ErpError).message).toBe('POST /v3/company/9130/invoice: Error: connect ECONNREFUSED 127.0.0.1:9');
  });

  it('turns a failure while reading the body into a transient ErpError', async () => {
    const broken = (async () =>
      new Response(
        new ReadableStream({
          start(controller) {
            controller.error(new Error('socket hang up'));
          },
        }),
      )) as typeof fetch;
    const http = createErpHttp({ pacer: unpaced, timeoutMs: 5_000, fetch: broken });
    const error = await rejected(http.send({ method: 'GET', url: 'https://erp.test/a' }));
    expect(error).toBeInstanceOf(ErpError);
    expect((error as ErpError).kind).toBe('transient');
    expect((error as ErpError).message).toContain('GET /a: ');
  });

  it('gives up after timeoutMs with a transient ErpError', async () => {
    let aborted = false;
    const hanging = ((_: string, init?: RequestInit) =>
      new Promise<Response>((_resolve, reject) => {
        const signal = init!.signal!;
        signal.addEventListener('abort', () => {
          aborted = true;
          reject(signal.reason as Error);
        });
      })) as typeof fetch;
    const http = createErpHttp({ pacer: unpaced, timeoutMs: 30, fetch: hanging });
    const started = Date.now();
    const error = await rejected(http.send({ method: 'GET', url: 'https://erp.test/slow?x=1' }));
    expect(aborted).toBe(true);
    expect(Date.now() - started).toBeGreaterThanOrEqual(25);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(error).toBeInstanceOf(ErpError);
    expect((error as ErpError).kind).toBe('transient');
    expect((error as ErpError).message).toBe('GET /slow: no answer within 30 ms');
  });

  it.each(['TimeoutError', 'AbortError'])('names the timeout when fetch rejects with a %s', async (name) => {
    const timingOut = (async () => {
      throw Object.assign(new Error('The operation was aborted'), { name });
    }) as typeof fetch;
    const http = createErpHttp({ pacer: unpaced, timeoutMs: 2_500, fetch: timingOut });
    const error = await rejected(http.send({ method: 'DELETE', url: 'https://erp.test/api/v1/items/9' }));
    expect(error).toBeInstanceOf(ErpError);
    expect((error as ErpError).kind).toBe('transient');
    expect((error as ErpError).message).toBe('DELETE /api/v1/items/9: no answer within 2500 ms');
  });
});
