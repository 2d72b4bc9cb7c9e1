import { describe, expect, it } from '@jest/globals';
import { OpenAPIHono } from '@hono/zod-openapi';
import type { AppEnv } from '../../src/api/http/context.js';
import { errorHandler } from '../../src/api/http/errors.js';
import { RateLimiter, clientAddress, rateLimit } from '../../src/api/middleware/rate-limit.js';
import type { Principal } from '../../src/api/auth/policy.js';

function appWith(perMinute: number, clock: { now: number }) {
  const app = new OpenAPIHono<AppEnv>();
  app.use('*', async (c, next) => {
    c.set('requestId', 'r');
    c.set('logger', { debug: () => undefined, error: () => undefined } as unknown as AppEnv['Variables']['logger']);
    c.set('principal', { id: c.req.header('x-caller') ?? 'a' } as Principal);
    await next();
  });
  app.use('*', rateLimit(new RateLimiter(perMinute, () => clock.now)));
  app.onError(errorHandler);
  app.get('/', (c) => c.text('ok'));
  return app;
}

describe('rateLimit', () => {
  it('allows a burst of the limit, then answers 429 with Retry-After until tokens refill', async () => {
    const clock = { now: 0 };
    const app = appWith(3, clock);
    for (let i = 0; i < 3; i += 1) expect((await app.request('/')).status).toBe(200);
    const limited = await app.request('/');
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBe('20');
    expect(((await limited.json()) as { code: string }).code).toBe('rate_limited');
    clock.now += 20_000;
    expect((await app.request('/')).status).toBe(200);
  });

  it('counts each caller separately', async () => {
    const app = appWith(1, { now: 0 });
    expect((await app.request('/', { headers: { 'x-caller': 'a' } })).status).toBe(200);
    expect((await app.request('/', { headers: { 'x-caller': 'a' } })).status).toBe(429);
    expect((await app.request('/', { headers: { 'x-caller': 'b' } })).status).toBe(200);
  });
});

describe('RateLimiter over a window other than a minute', () => {
  it('refills `limit` tokens per window', () => {
    const clock = { now: 0 };
    const limiter = new RateLimiter(2, () => clock.now, 10_000);
    expect([limiter.take('a'), limiter.take('a'), limiter.take('a')]).toEqual([undefined, undefined, 5]);
    clock.now += 5_000;
    expect(limiter.take('a')).toBeUndefined();
  });
});

describe('clientAddress', () => {
  const request = (remoteAddress: string, forwardedFor?: string) => ({
    socket: { remoteAddress } as never,
    headers: forwardedFor === undefined ? {} : { 'x-forwarded-for': forwardedFor },
  });

  it.each([
    ['the peer, ignoring X-Forwarded-For without trusted proxies', request('192.0.2.1', '203.0.113.9'), 0, '192.0.2.1'],
    ['the entry the trusted proxy appended', request('10.0.0.2', '6.6.6.6, 203.0.113.9'), 1, '203.0.113.9'],
    ['the entry before the inner of two proxies', request('10.0.0.2', '6.6.6.6, 203.0.113.9,10.0.0.1'), 2, '203.0.113.9'],
    ['the leftmost entry when there are fewer than the hops', request('10.0.0.2', '203.0.113.9'), 3, '203.0.113.9'],
    ['the peer when a proxy sent no header', request('10.0.0.2'), 1, '10.0.0.2'],
    ['an IPv4-mapped peer as IPv4', request('::ffff:192.0.2.1'), 0, '192.0.2.1'],
    ['an IPv6 peer by its /64', request('2001:db8:aa:bb:1:2:3:4'), 0, '2001:db8:aa:bb::/64'],
    ['a shortened IPv6 peer by its /64', request('2001:db8::7'), 0, '2001:db8:0:0::/64'],
    ['loopback IPv6', request('::1'), 0, '0:0:0:0::/64'],
  ])('is %s', (_, incoming, hops, expected) => {
    expect(clientAddress(incoming, hops)).toBe(expected);
  });

  it('counts two addresses of one IPv6 /64 as one client', () => {
    expect(clientAddress(request('2001:db8:1:2::a'), 0)).toBe(clientAddress(request('2001:0db8:0001:0002:ffff::1'), 0));
  });
});
