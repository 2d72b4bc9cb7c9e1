import { createServer, type RequestListener, type ServerOptions } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve, type ServerType } from '@hono/node-server';
import { OpenAPIHono } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { ZodError } from 'zod';
import { registerApplications } from './applications.js';
import type { AppDeps, AppEnv } from './context.js';
import { unmatchedRequestHandler } from './allowed-methods.js';
import { errorHandler, sendProblem, zodIssuesToFields } from './errors.js';
import { registerHealth } from './health.js';
import { registerApiKeys } from './api-keys.js';
import { registerAuditEvents } from './audit-events.js';
import { authenticate } from './auth/authenticate.js';
import { registerDepartments } from './departments.js';
import { registerDocs } from './docs.js';
import { registerExternalIds } from './external-ids.js';
import { registerMembers } from './members.js';
import { registerMetrics } from './metrics.js';
import { patchWithoutBody } from './middleware/patch-without-body.js';
import { RateLimiter, rateLimit } from './middleware/rate-limit.js';
import { requestContext } from './middleware/request-context.js';
import { unitOfWork } from './middleware/unit-of-work.js';
import { wellFormedUrl } from './middleware/well-formed-url.js';
import { registerOrganizations } from './organizations.js';
import { registerPaymentMethods } from './payment-methods.js';
import { registerPlans } from './plans.js';
import { registerInvoicePayments } from './invoice-payments.js';
import { registerInvoices } from './invoices.js';
import { registerSeats } from './seats.js';
import { SeatVerdicts } from '../db/repositories/seats.js';
import { registerStripeWebhooks, exceptStripeWebhook } from './stripe-webhooks.js';
import { registerSubscriptions } from './subscriptions.js';
import { registerUsage } from './usage.js';
import { UsageIngestion } from './usage-ingestion.js';
import { fastLane } from './fast-lane.js';
import { registerWebhookEndpoints } from './webhook-endpoints.js';
import { ApiError, problem } from './problem.js';
import { configDefaults } from '../config.js';

const maxBodyBytes = 1024 * 1024;

function validationFailed(error: ZodError, c: Context<AppEnv>) {
  return sendProblem(
    c,
    problem(400, 'validation_failed', 'The request failed validation.', c.get('requestId'), zodIssuesToFields(error)),
  );
}

/** What an API process keeps across requests: the batching readers and writers, and the rate limiters. */
export interface SharedServices {
  seatVerdicts: SeatVerdicts;
  usageIngestion: UsageIngestion;
  rateLimiter: RateLimiter;
  /** Failed authentications per client address. */
  authFailures: RateLimiter;
}

export function createSharedServices(deps: AppDeps): SharedServices {
  return {
    seatVerdicts: new SeatVerdicts(deps.orm),
    usageIngestion: new UsageIngestion({ orm: deps.orm, clock: deps.clock, temporal: deps.temporal, taskQueue: deps.config.TEMPORAL_TASK_QUEUE, logger: deps.logger }),
    rateLimiter: new RateLimiter(deps.config.RATE_LIMIT_PER_MINUTE),
    authFailures: new RateLimiter(
      deps.config.AUTH_FAILURE_LIMIT ?? configDefaults.AUTH_FAILURE_LIMIT,
      Date.now,
      (deps.config.AUTH_FAILURE_WINDOW_SECONDS ?? configDefaults.AUTH_FAILURE_WINDOW_SECONDS) * 1000,
    ),
  };
}

/** Builds the HTTP API over injected services, so tests and the server wire it the same way. */
export function createApp(deps: AppDeps, shared: SharedServices = createSharedServices(deps)): OpenAPIHono<AppEnv> {
  const app = new OpenAPIHono<AppEnv>({
    defaultHook: (result, c) => (result.success ? undefined : validationFailed(result.error, c)),
  });

  app.use('*', requestContext(deps, shared));
  app.use('/v1/*', wellFormedUrl());
  app.use(
    '/v1/*',
    bodyLimit({
      maxSize: maxBodyBytes,
      onError: () => {
        // The rest of the body is never read: close the connection, or a client reusing it
        // would have its next request fail.
        throw new ApiError(413, 'body_too_large', `Request bodies are limited to ${maxBodyBytes} bytes.`, undefined, { connection: 'close' });
      },
    }),
    exceptStripeWebhook(authenticate(deps.config, shared.authFailures)),
    exceptStripeWebhook(rateLimit(shared.rateLimiter)),
    patchWithoutBody(),
    exceptStripeWebhook(unitOfWork()),
  );
  app.onError(errorHandler);
  app.notFound(unmatchedRequestHandler(app));

  registerHealth(app);
  registerApplications(app);
  registerMetrics(app);
  registerPlans(app);
  registerOrganizations(app);
  registerDepartments(app);
  registerMembers(app);
  registerExternalIds(app);
  registerApiKeys(app);
  registerWebhookEndpoints(app);
  registerAuditEvents(app);
  registerSubscriptions(app);
  registerSeats(app);
  registerInvoices(app);
  registerInvoicePayments(app);
  registerUsage(app);
  registerPaymentMethods(app);
  registerStripeWebhooks(app);

  app.openAPIRegistry.registerComponent('securitySchemes', 'bearer', {
    type: 'http',
    scheme: 'bearer',
    description: 'An API key (shown once when created) or a JWT for a person.',
  });
  app.doc31('/openapi.json', {
    openapi: '3.1.0',
    info: {
      title: 'Ledgerflow API',
      version: '0.1.0',
      description: 'Workflow-orchestrated B2B billing: catalog, organizations, subscriptions, usage, invoices.',
    },
  });
  registerDocs(app);
  return app;
}

/**
 * Serves the API over HTTP: the app, with the fast lane in front of it (seat verification and
 * single usage events, the hottest calls, without the general pipeline: `fastLane`).
 */
export function serveApi(deps: AppDeps, listen: { hostname: string; port: number }, onListening?: (info: AddressInfo) => void): ServerType {
  const shared = createSharedServices(deps);
  const app = createApp(deps, shared);
  const lane = fastLane(deps, shared);
  return serve({
    fetch: app.fetch,
    ...listen,
    // @hono/node-server calls it as http's createServer(options, listener), with the app as listener.
    createServer: ((options: ServerOptions, app: RequestListener) => createServer(options, (request, response) => lane(request, response, app))) as typeof createServer,
  }, onListening);
}
