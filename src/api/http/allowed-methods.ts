import type { Hono, MiddlewareHandler, NotFoundHandler } from 'hono';
import { METHOD_NAME_ALL } from 'hono/router';
import { TrieRouter } from 'hono/router/trie-router';
import type { AppEnv } from './context.js';
import { notFoundHandler, sendProblem } from './errors.js';
import { problem } from './problem.js';

/**
 * Answers a request no route took. On a path that routes serve with other methods, `OPTIONS` is a
 * 204 and any other method a 405 problem, both with `Allow` (RFC 9110: HEAD wherever GET is, as
 * Hono answers it); on any other path, the 404 of `notFoundHandler`. The methods are the app's own
 * routes, read at the first such request, once all are registered.
 */
export function unmatchedRequestHandler(app: Hono<AppEnv>): NotFoundHandler<AppEnv> {
  return (c) => {
    const allowed = routeIndex(app).allowedAt(c.req.path);
    if (allowed.length === 0) return notFoundHandler(c);
    const allow = allowed.join(', ');
    if (c.req.method === 'OPTIONS') return c.body(null, 204, { allow });
    return sendProblem(
      c,
      problem(405, 'method_not_allowed', `${c.req.method} is not a method of ${c.req.path}; it supports ${allow}.`, c.get('requestId')),
      { allow },
    );
  };
}

/**
 * A fixed path shadows a parameter in the same place (`/v1/approval-requests/bulk-decisions` is not
 * the request `bulk-decisions`): a method the fixed path does not serve gets what an unmatched
 * request gets, instead of reaching the parameter's route.
 */
export function fixedPathsShadowParameters(app: Hono<AppEnv>, unmatched: NotFoundHandler<AppEnv>): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const methods = routeIndex(app).shadowingAt(c.req.path);
    if (methods && !methods.has(c.req.method === 'HEAD' ? 'GET' : c.req.method)) return unmatched(c);
    await next();
  };
}

interface RouteIndex {
  /** What `Allow` lists at a path: its fixed routes' methods when it has any, else those of the routes matching it; [] for none. */
  allowedAt(path: string): string[];
  /** The methods of a fixed path that a parameter route also matches. */
  shadowingAt(path: string): ReadonlySet<string> | undefined;
}

const indexes = new WeakMap<Hono<AppEnv>, RouteIndex>();

/** The app's handler routes by path, read at the first request that asks, once all are registered. */
function routeIndex(app: Hono<AppEnv>): RouteIndex {
  const known = indexes.get(app);
  if (known) return known;
  const matching = new TrieRouter<string>();
  const parameterRoutes = new TrieRouter<string>();
  const fixed = new Map<string, Set<string>>();
  // Middleware is registered for every method; only handlers say what a path supports.
  for (const route of app.routes) {
    if (route.method === METHOD_NAME_ALL) continue;
    matching.add(METHOD_NAME_ALL, route.path, route.method);
    if (/[:*]/.test(route.path)) parameterRoutes.add(METHOD_NAME_ALL, route.path, route.method);
    else fixed.set(route.path, (fixed.get(route.path) ?? new Set()).add(route.method));
  }
  const shadowing = new Map([...fixed].filter(([path]) => parameterRoutes.match(METHOD_NAME_ALL, path)[0].length > 0));
  const index: RouteIndex = {
    allowedAt(path) {
      const methods = new Set(fixed.get(path) ?? matching.match(METHOD_NAME_ALL, path)[0].map(([method]) => method));
      if (methods.size === 0) return [];
      if (methods.has('GET')) methods.add('HEAD');
      return [...methods, 'OPTIONS'].sort();
    },
    shadowingAt: (path) => shadowing.get(path),
  };
  indexes.set(app, index);
  return index;
}
