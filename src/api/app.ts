import { OpenAPIHono } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { ZodError } from 'zod';
import { registerApplications } from './routes/applications.js';
import { registerApprovalRequests } from './routes/approval-requests.js';
import { registerBudgets } from './routes/budgets.js';
import { registerContracts } from './routes/contracts.js';
import { registerCostAllocations } from './routes/cost-allocations.js';
import { registerDisputes } from './routes/disputes.js';
import { registerApprovalRules } from './routes/approval-rules.js';
import type { AppDeps, AppEnv } from './http/context.js';
import { fixedPathsShadowParameters, unmatchedRequestHandler } from './http/allowed-methods.js';
import { errorHandler, sendProblem, zodIssuesToFields } from './http/errors.js';
import { registerHealth } from './routes/health.js';
import { registerIntegrations } from './routes/integrations.js';
import { registerApiKeys } from './routes/api-keys.js';
import { registerAuditEvents } from './routes/audit-events.js';
import { authenticate } from './auth/authenticate.js';
import { registerDepartments } from './routes/departments.js';
import { registerDocs } from './docs.js';
import { registerExternalIds } from './routes/external-ids.js';
import { registerMembers } from './routes/members.js';
import { registerMetrics } from './routes/metrics.js';
import { patchWithoutBody } from './middleware/patch-without-body.js';
import { rateLimit } from './middleware/rate-limit.js';
import { requestContext } from './middleware/request-context.js';
import { unitOfWork } from './middleware/unit-of-work.js';
import { wellFormedUrl } from './middleware/well-formed-url.js';
import { registerOrganizations } from './routes/organizations.js';
import { registerPaymentMethods } from './routes/payment-methods.js';
import { registerPlans } from './routes/plans.js';
import { registerInvoicePayments } from './routes/invoice-payments.js';
import { registerInvoices } from './routes/invoices.js';
import { registerSeats } from './routes/seats.js';
import { registerStripeWebhooks, exceptStripeWebhook } from './routes/stripe-webhooks.js';
import { registerSubscriptions } from './routes/subscriptions.js';
import { registerUsage } from './routes/usage.js';
import { registerWebhookEndpoints } from './routes/webhook-endpoints.js';
import { ApiError, problem } from './http/problem.js';
import { createSharedServices, type SharedServices } from './services.js';

const maxBodyBytes = 1024 * 1024;

function validationFailed(error: ZodError, c: Context<AppEnv>) {
  return sendProblem(
    c,
    problem(400, 'validation_failed', 'The request failed validation.', c.get('requestId'), zodIssuesToFields(error)),
  );
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
  const unmatched = unmatchedRequestHandler(app);
  app.notFound(unmatched);
  app.use('/v1/*', fixedPathsShadowParameters(app, unmatched));

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
  registerApprovalRules(app);
  registerApprovalRequests(app);
  registerDisputes(app);
  registerContracts(app);
  registerIntegrations(app);
  registerBudgets(app);
  registerCostAllocations(app);
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
