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
  const allowedAt = allowedMethods(app);
  return (c) => {
    const allowed = allowedAt(c.req.path);
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
  let shadowing: Map<string, Set<string>> | undefined;
  return async (c, next) => {
    shadowing ??= fixedPathsBesideParameters(app);
    const methods = shadowing.get(c.req.path);
    if (methods && !methods.has(c.req.method === 'HEAD' ? 'GET' : c.req.method)) return unmatched(c);
    await next();
  };
}

/** The app's own handler routes (middleware is registered for every method; only handlers say what a path supports). */
const handlerRoutes = (app: Hono<AppEnv>) => app.routes.filter((route) => route.method !== METHOD_NAME_ALL);
const isFixed = (path: string) => !/[:*]/.test(path);

/** Each fixed path that a parameter route also matches, with the methods its own routes serve. */
function fixedPathsBesideParameters(app: Hono<AppEnv>): Map<string, Set<string>> {
  const parameterRoutes = new TrieRouter<string>();
  for (const route of handlerRoutes(app)) if (!isFixed(route.path)) parameterRoutes.add(METHOD_NAME_ALL, route.path, route.method);
  const shadowing = new Map<string, Set<string>>();
  for (const route of handlerRoutes(app)) {
    if (!isFixed(route.path) || parameterRoutes.match(METHOD_NAME_ALL, route.path)[0].length === 0) continue;
    shadowing.set(route.path, (shadowing.get(route.path) ?? new Set()).add(route.method));
  }
  return shadowing;
}

/** What `Allow` lists at a path: its fixed routes' methods when it has any, else those of the routes matching it. */
function allowedMethods(app: Hono<AppEnv>): (path: string) => string[] {
  let methodsByPath: TrieRouter<string> | undefined;
  let fixedMethods: Map<string, Set<string>> | undefined;
  return (path) => {
    if (!methodsByPath || !fixedMethods) {
      methodsByPath = new TrieRouter<string>();
      fixedMethods = new Map();
      for (const route of handlerRoutes(app)) {
        methodsByPath.add(METHOD_NAME_ALL, route.path, route.method);
        if (isFixed(route.path)) fixedMethods.set(route.path, (fixedMethods.get(route.path) ?? new Set()).add(route.method));
      }
    }
    const methods = new Set(fixedMethods.get(path) ?? methodsByPath.match(METHOD_NAME_ALL, path)[0].map(([method]) => method));
    if (methods.size === 0) return [];
    if (methods.has('GET')) methods.add('HEAD');
    return [...methods, 'OPTIONS'].sort();
  };
}
