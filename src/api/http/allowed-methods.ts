import type { Hono, NotFoundHandler } from 'hono';
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
  let methodsByPath: TrieRouter<string> | undefined;
  const allowedAt = (path: string): string[] => {
    if (!methodsByPath) {
      methodsByPath = new TrieRouter<string>();
      // Middleware is registered for every method; only handlers say what a path supports.
      for (const route of app.routes) if (route.method !== METHOD_NAME_ALL) methodsByPath.add(METHOD_NAME_ALL, route.path, route.method);
    }
    const methods = new Set(methodsByPath.match(METHOD_NAME_ALL, path)[0].map(([method]) => method));
    if (methods.size === 0) return [];
    if (methods.has('GET')) methods.add('HEAD');
    return [...methods, 'OPTIONS'].sort();
  };

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
