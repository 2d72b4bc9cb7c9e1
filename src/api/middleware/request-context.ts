import { randomUUID } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
import type { AppDeps, AppEnv } from '../http/context.js';

const acceptableRequestId = /^[\w.:-]{1,128}$/;

/** The caller's `X-Request-Id` when it is acceptable, else a new one. */
export const requestIdFrom = (offered: string | undefined) => (offered && acceptableRequestId.test(offered) ? offered : randomUUID());

/**
 * Puts the services and a request id in the context, binds the id to every log line of the
 * request, echoes it in `X-Request-Id`, and logs one line per request when it completes.
 */
export function requestContext(deps: AppDeps, shared: Pick<AppEnv['Variables'], 'seatVerdicts' | 'usageIngestion' | 'budgetWatcher'>): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const requestId = requestIdFrom(c.req.header('x-request-id'));
    const logger = deps.logger.child({ requestId });
    c.set('requestId', requestId);
    c.set('logger', logger);
    c.set('config', deps.config);
    c.set('orm', deps.orm);
    c.set('temporal', deps.temporal);
    c.set('stripe', deps.stripe);
    c.set('clock', deps.clock);
    c.set('readiness', deps.readiness);
    c.set('seatVerdicts', shared.seatVerdicts);
    c.set('usageIngestion', shared.usageIngestion);
    c.set('budgetWatcher', shared.budgetWatcher);
    if (deps.apiKeyCache) c.set('apiKeyCache', deps.apiKeyCache);
    if (deps.resolveHost) c.set('resolveHost', deps.resolveHost);
    c.header('x-request-id', requestId);
    const started = performance.now();
    await next();
    logger.info(
      { method: c.req.method, path: c.req.path, status: c.res.status, durationMs: Math.round(performance.now() - started) },
      'request completed',
    );
  };
}
