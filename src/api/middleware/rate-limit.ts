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
 * same number. Shared by the middleware and the seat verification fast lane.
 */
export class RateLimiter {
  readonly #buckets = new Map<string, Bucket>();
  readonly #refillPerMs: number;

  constructor(
    private readonly perMinute: number,
    private readonly now: () => number = Date.now,
  ) {
    this.#refillPerMs = perMinute / 60_000;
  }

  /** Takes a token for `callerId`: undefined when allowed, else the seconds to wait. */
  take(callerId: string): number | undefined {
    const time = this.now();
    const bucket = this.#buckets.get(callerId) ?? { tokens: this.perMinute, refilledAt: time };
    bucket.tokens = Math.min(this.perMinute, bucket.tokens + (time - bucket.refilledAt) * this.#refillPerMs);
    bucket.refilledAt = time;
    if (bucket.tokens < 1) return Math.ceil((1 - bucket.tokens) / this.#refillPerMs / 1000);
    bucket.tokens -= 1;
    if (!this.#buckets.has(callerId) && this.#buckets.size >= maxTrackedCallers) {
      for (const [key, value] of this.#buckets) if (value.tokens >= this.perMinute - 1) this.#buckets.delete(key);
    }
    this.#buckets.set(callerId, bucket);
    return undefined;
  }
}

/** Past the caller's budget, 429 with `Retry-After` in whole seconds. */
export function rateLimit(limiter: RateLimiter): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const retryAfter = limiter.take(c.get('principal').id);
    if (retryAfter !== undefined) {
      throw new ApiError(429, 'rate_limited', `Too many requests; retry in ${retryAfter} s.`, undefined, { 'retry-after': String(retryAfter) });
    }
    await next();
  };
}
