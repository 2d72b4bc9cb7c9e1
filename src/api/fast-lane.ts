import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import type { z } from '@hono/zod-openapi';
import type { Principal } from './auth/policy.js';
import { cachedApiKeyPrincipal } from './auth/authenticate.js';
import type { AppDeps } from './http/context.js';
import { requestIdFrom } from './middleware/request-context.js';
import { VerifySeatSchema, verifySeat, verifySeatPath } from './routes/seats.js';
import type { SharedServices } from './services.js';
import { UsageEventSchema, recordUsagePath, usageWriteAccess } from './routes/usage.js';

/** Lane bodies are a few short fields; anything larger goes the general way. */
const maxLaneBodyBytes = 16 * 1024;

/** What a lane route answers when it leaves the request to the app (a refusal: the app words it). */
const handOver = Symbol('hand over to the app');

/** One route the lane answers: its body schema, and its success. */
interface LaneRoute<S extends z.ZodType> {
  schema: S;
  status: 200 | 202;
  /** Whether the request's headers leave it to the lane (else the app takes it). */
  takes?: (request: IncomingMessage) => boolean;
  answer: (principal: Principal, input: z.output<S>) => Promise<unknown>;
}

const route = <S extends z.ZodType>(definition: LaneRoute<S>) => definition as unknown as LaneRoute<z.ZodType>;

/**
 * The hottest product-backend calls — `POST /v1/seats/verify` and `POST /v1/usage` — without the
 * general pipeline (Request objects, web streams, routing, middleware) for what they nearly always
 * are: a cached API key sending a valid body within its rate. The lane shares every decision with
 * the routes — the key's credential and principal, the rate limiter, the schemas, `verifySeat`
 * and `UsageIngestion` — and answers only successes: anything else (no cached key, a key whose use
 * must be recorded, a bad body, over the rate, a refusal, an error) is handed to the app with the
 * body it read, so problems and their format come from one place (a credential the lane does not
 * know is the app's to refuse, and to count against its address). A refused usage event was not
 * recorded, so the app recording it again answers the same.
 *
 * What the app's middleware does (app.ts) and the lane does instead, one by one:
 * - `requestContext`: the same request id (`requestIdFrom`) in `X-Request-Id`, the same completion log line;
 *   the services come from `deps` and `shared` directly.
 * - `wellFormedUrl`: skipped: the lane answers only its fixed paths, which have nothing to decode.
 * - `bodyLimit`: bodies over `maxLaneBodyBytes` (far below the app's limit), or of unknown length, go to the app.
 * - `authenticate`: only a cached API key whose use needs no recording (`cachedApiKeyPrincipal`); anything else
 *   goes to the app, which also counts failures against the address.
 * - `rateLimit`: the same limiter (`shared.rateLimiter`); over the rate goes to the app, which answers the 429.
 * - `patchWithoutBody`: skipped: POST only.
 * - `unitOfWork`: skipped: both routes commit outside it (their `readsOnly` and
 *   `commitsItselfWithoutIdempotencyKey` markers); a usage event with an Idempotency-Key goes to the app.
 * - the routes' validation: the routes' own schemas; a body they refuse goes to the app.
 */
export function fastLane(deps: AppDeps, shared: SharedServices) {
  const services = { seatVerdicts: shared.seatVerdicts, orm: deps.orm, clock: deps.clock };
  const routes = new Map<string, LaneRoute<z.ZodType>>([
    [verifySeatPath, route({ schema: VerifySeatSchema, status: 200, answer: (principal, input) => verifySeat(principal, input, services) })],
    [
      recordUsagePath,
      route({
        schema: UsageEventSchema,
        status: 202,
        // With an Idempotency-Key the app keeps the key's record in the event's transaction.
        takes: (request) => request.headers['idempotency-key'] === undefined,
        answer: async (principal, input) => {
          const recorded = await shared.usageIngestion.record(input, usageWriteAccess(principal));
          return recorded.ok ? recorded.value : handOver;
        },
      }),
    ],
  ]);

  const answer = async (request: IncomingMessage, response: ServerResponse, path: string, lane: LaneRoute<z.ZodType>, body: Buffer): Promise<boolean> => {
    const started = performance.now();
    if (!request.headers['content-type']?.startsWith('application/json') || (lane.takes && !lane.takes(request))) return false;
    const principal = cachedApiKeyPrincipal(deps.apiKeyCache, request.headers.authorization, deps.clock.now().getTime());
    if (!principal) return false;
    let input: unknown;
    try {
      input = JSON.parse(body.toString('utf8'));
    } catch {
      return false;
    }
    const parsed = lane.schema.safeParse(input);
    if (!parsed.success) return false;
    if (shared.rateLimiter.take(principal.id) !== undefined) return false;
    const result = await lane.answer(principal, parsed.data);
    if (result === handOver) return false;
    const requestId = requestIdFrom(request.headers['x-request-id'] as string | undefined);
    const payload = JSON.stringify(result);
    response.writeHead(lane.status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload), 'x-request-id': requestId });
    response.end(payload);
    deps.logger.info(
      { requestId, principal: principal.id, method: 'POST', path, status: lane.status, durationMs: Math.round(performance.now() - started) },
      'request completed',
    );
    return true;
  };

  return (request: IncomingMessage, response: ServerResponse, app: RequestListener): void => {
    const lane = request.method === 'POST' ? routes.get(request.url ?? '') : undefined;
    const length = Number(request.headers['content-length']);
    if (!lane || !(length > 0 && length <= maxLaneBodyBytes)) {
      void app(request, response);
      return;
    }
    const path = request.url!;
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const body = Buffer.concat(chunks);
      void answer(request, response, path, lane, body)
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
