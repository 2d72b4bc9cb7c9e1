import { createHash, timingSafeEqual } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
import type { AppEnv } from '../context.js';
import { ApiError } from '../problem.js';

const digest = (value: string) => createHash('sha256').update(value).digest();

/**
 * Bearer authentication for `/v1`. The operator's bootstrap key (`LEDGERFLOW_ADMIN_KEY`) is a
 * `platform_admin` credential; without one configured, every `/v1` request is refused.
 */
export function requireBearer(): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const header = c.req.header('authorization') ?? '';
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    if (!match?.[1]) {
      c.header('www-authenticate', 'Bearer');
      throw new ApiError(401, 'unauthenticated', 'Send `Authorization: Bearer <api key or JWT>`.');
    }
    const adminKey = c.get('config').LEDGERFLOW_ADMIN_KEY;
    // Comparing digests keeps the comparison constant-time whatever the lengths.
    if (!adminKey || !timingSafeEqual(digest(match[1]), digest(adminKey))) {
      c.header('www-authenticate', 'Bearer error="invalid_token"');
      throw new ApiError(401, 'invalid_credentials', 'The credentials are not valid.');
    }
    await next();
  };
}
