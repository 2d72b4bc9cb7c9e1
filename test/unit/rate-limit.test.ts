import { describe, expect, it } from '@jest/globals';
import { OpenAPIHono } from '@hono/zod-openapi';
import type { AppEnv } from '../../src/api/context.js';
import { errorHandler } from '../../src/api/errors.js';
import { RateLimiter, rateLimit } from '../../src/api/middleware/rate-limit.js';
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
