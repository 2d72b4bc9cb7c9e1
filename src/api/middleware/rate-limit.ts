import type { IncomingMessage } from 'node:http';
import { isIPv6 } from 'node:net';
import type { MiddlewareHandler } from 'hono';
import type { AppEnv } from '../http/context.js';
import { ApiError } from '../http/problem.js';

interface Bucket {
  tokens: number;
  refilledAt: number;
}

const maxTrackedCallers = 50_000;

/**
 * A token bucket per caller, in this process: `limit` requests per `windowMs` (a minute unless
 * said otherwise) with bursts up to the same number. Shared by the middleware and the fast lane.
 */
export class RateLimiter {
  readonly #buckets = new Map<string, Bucket>();
  readonly #refillPerMs: number;

  constructor(
    private readonly limit: number,
    private readonly now: () => number = Date.now,
    windowMs = 60_000,
  ) {
    this.#refillPerMs = limit / windowMs;
  }

  /** Takes a token for `callerId`: undefined when allowed, else the seconds to wait. */
  take(callerId: string): number | undefined {
    const time = this.now();
    const bucket = this.#buckets.get(callerId) ?? { tokens: this.limit, refilledAt: time };
    bucket.tokens = Math.min(this.limit, bucket.tokens + (time - bucket.refilledAt) * this.#refillPerMs);
    bucket.refilledAt = time;
    if (bucket.tokens < 1) return Math.ceil((1 - bucket.tokens) / this.#refillPerMs / 1000);
    bucket.tokens -= 1;
    if (!this.#buckets.has(callerId) && this.#buckets.size >= maxTrackedCallers) {
      for (const [key, value] of this.#buckets) if (value.tokens >= this.limit - 1) this.#buckets.delete(key);
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

/** An IPv6 address's /64, the block one host is usually given; other addresses are themselves. */
function addressBlock(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return mapped[1]!;
  if (!isIPv6(address)) return address;
  const [head = '', tail] = address.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = tail === undefined ? left : [...left, ...Array<string>(Math.max(0, 8 - left.length - right.length)).fill('0'), ...right];
  return `${groups.slice(0, 4).map((group) => parseInt(group, 16).toString(16)).join(':')}::/64`;
}

/**
 * Who sent a request, for limits per client: the connection's peer, or with `trustedProxyHops`
 * proxies in front, the `X-Forwarded-For` entry that many from the right (entries further left are
 * whatever the client wrote). IPv6 clients are counted by /64.
 */
export function clientAddress(incoming: Pick<IncomingMessage, 'headers' | 'socket'> | undefined, trustedProxyHops: number): string {
  const peer = incoming?.socket.remoteAddress ?? 'unknown';
  const forwarded = incoming?.headers['x-forwarded-for'];
  if (trustedProxyHops === 0 || forwarded === undefined) return addressBlock(peer);
  const entries = (Array.isArray(forwarded) ? forwarded.join(',') : forwarded).split(',').map((entry) => entry.trim()).filter(Boolean);
  return addressBlock(entries[Math.max(0, entries.length - trustedProxyHops)] ?? peer);
}

