import type { MiddlewareHandler } from 'hono';
import type { AppEnv } from '../http/context.js';
import { ApiError } from '../http/problem.js';

/**
 * Refuses a URL whose percent-encoding is not UTF-8 (the bytes of a lone surrogate, say): the
 * router would hand such a path or query parameter on undecoded, as if `%ED%A0%80` were its value.
 */
export function wellFormedUrl(): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const { pathname, search } = new URL(c.req.url);
    try {
      decodeURIComponent(pathname + search);
    } catch {
      throw new ApiError(400, 'malformed_request', 'The URL is not percent-encoded UTF-8.');
    }
    await next();
  };
}
