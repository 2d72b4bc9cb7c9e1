import type { MiddlewareHandler } from 'hono';
import type { AppEnv } from '../context.js';
import { ApiError } from '../problem.js';

interface Bucket {
  tokens: number;
  refilledAt: number;
}

const maxTrackedCallers = 50_000;

/**
 * A token bucket per caller, in this process: `perMinute` requests a minute with bursts up to the
 * same number. Past it, 429 with `Retry-After` in whole seconds.
 */
export function rateLimit(perMinute: number, now: () => number = Date.now): MiddlewareHandler<AppEnv> {
  const buckets = new Map<string, Bucket>();
  const refillPerMs = perMinute / 60_000;
  return async (c, next) => {
    const id = c.get('principal').id;
    const time = now();
    const bucket = buckets.get(id) ?? { tokens: perMinute, refilledAt: time };
    bucket.tokens = Math.min(perMinute, bucket.tokens + (time - bucket.refilledAt) * refillPerMs);
    bucket.refilledAt = time;
    if (bucket.tokens < 1) {
      const retryAfter = Math.ceil((1 - bucket.tokens) / refillPerMs / 1000);
      throw new ApiError(429, 'rate_limited', `Too many requests; retry in ${retryAfter} s.`, undefined, { 'retry-after': String(retryAfter) });
    }
    bucket.tokens -= 1;
    if (!buckets.has(id) && buckets.size >= maxTrackedCallers) {
      for (const [key, value] of buckets) if (value.tokens >= perMinute - 1) buckets.delete(key);
    }
    buckets.set(id, bucket);
    await next();
  };
}
