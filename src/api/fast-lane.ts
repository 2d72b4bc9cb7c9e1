import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import type { SharedServices } from './app.js';
import { cachedApiKeyPrincipal } from './auth/authenticate.js';
import type { AppDeps } from './context.js';
import { requestIdFrom } from './middleware/request-context.js';
import { VerifySeatSchema, verifySeat } from './seats.js';

const verifyPath = '/v1/seats/verify';
/** Verify bodies are three short strings; anything larger goes the general way. */
const maxLaneBodyBytes = 16 * 1024;

/**
 * `POST /v1/seats/verify` without the general pipeline (Request objects, web streams, routing,
 * middleware) for what it is nearly always: a product backend's cached API key asking a valid
 * question within its rate. The lane shares every decision with the route — the key's credential
 * and principal, the rate limiter, the schema, `verifySeat` and its batched reads — and answers
 * only successes: anything else (no cached key, a key whose use must be recorded, a bad body,
 * over the rate, a refusal, an error) is handed to the app with the body it read, so problems
 * and their format come from one place.
 */
export function seatVerificationLane(deps: AppDeps, shared: SharedServices) {
  const services = { seatVerdicts: shared.seatVerdicts, orm: deps.orm, clock: deps.clock };

  const answer = async (request: IncomingMessage, response: ServerResponse, body: Buffer): Promise<boolean> => {
    const started = performance.now();
    if (!request.headers['content-type']?.startsWith('application/json')) return false;
    const principal = cachedApiKeyPrincipal(deps.apiKeyCache, request.headers.authorization, deps.clock.now().getTime());
    if (!principal) return false;
    let input: unknown;
    try {
      input = JSON.parse(body.toString('utf8'));
    } catch {
      return false;
    }
    const parsed = VerifySeatSchema.safeParse(input);
    if (!parsed.success) return false;
    if (shared.rateLimiter.take(principal.id) !== undefined) return false;
    const verdict = await verifySeat(principal, parsed.data, services);
    const requestId = requestIdFrom(request.headers['x-request-id'] as string | undefined);
    const payload = JSON.stringify(verdict);
    response.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload), 'x-request-id': requestId });
    response.end(payload);
    deps.logger.info(
      { requestId, principal: principal.id, method: 'POST', path: verifyPath, status: 200, durationMs: Math.round(performance.now() - started) },
      'request completed',
    );
    return true;
  };

  return (request: IncomingMessage, response: ServerResponse, app: RequestListener): void => {
    const length = Number(request.headers['content-length']);
    if (request.method !== 'POST' || request.url !== verifyPath || !(length > 0 && length <= maxLaneBodyBytes)) {
      void app(request, response);
      return;
    }
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const body = Buffer.concat(chunks);
      void answer(request, response, body)
        .catch(() => false)
        .then((answered) => {
          if (answered) return;
          // The app reads a consumed body from `rawBody` (@hono/node-server).
          Object.assign(request, { rawBody: body });
          void app(request, response);
        });
    });
  };
}
