import type { MiddlewareHandler } from 'hono';
import { matchedRoutes } from 'hono/route';
import type { AppEnv } from '../http/context.js';
import { ApiError } from '../http/problem.js';
import { nothingToChange } from '../http/schemas.js';

/**
 * A PATCH route's request without a body changes nothing: refused as its schema refuses `{}`
 * (`patchBody`), whatever its Content-Type says, rather than as malformed JSON. Other paths are
 * left to the router (404, or 405 where PATCH is not a method of the path).
 */
export function patchWithoutBody(): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    if (c.req.method === 'PATCH' && matchedRoutes(c).some((route) => route.method === 'PATCH') && (await c.req.text()) === '') {
      throw new ApiError(400, 'validation_failed', 'The request failed validation.', [{ field: '(body)', message: nothingToChange }]);
    }
    await next();
  };
}
