import { createHash } from 'node:crypto';
import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { ensureOrganizationCustomer } from '../../integrations/stripe-customers.js';
import { createStripeGateway, isTransientStripeError, StripeRequestRejectedError } from '../../integrations/stripe.js';
import { requireOrganization } from '../http/access.js';
import { audit } from '../http/audit.js';
import type { AppEnv } from '../http/context.js';
import { ApiError, problemResponses } from '../http/problem.js';
import { jsonBody, jsonResponse, uuidParam } from '../http/schemas.js';
import { refuseForbiddenCharacters } from '../http/text.js';

const returnUrl = (description: string) =>
  z
    .url({ protocol: /^https?$/ })
    .max(2048)
    .superRefine(refuseForbiddenCharacters())
    .openapi({ description, example: 'https://app.example.com/billing?setup={CHECKOUT_SESSION_ID}' });

const SetupPaymentMethodSchema = z
  .strictObject({
    successUrl: returnUrl('Where Stripe Checkout sends the customer once the payment method is saved.'),
    cancelUrl: returnUrl('Where Stripe Checkout sends the customer who gives up.'),
  })
  .openapi('SetupPaymentMethod');

const SetupSessionSchema = z
  .object({
    sessionId: z.string().openapi({ example: 'cs_test_a1b2…' }),
    url: z.string().openapi({ description: "Stripe Checkout's page (setup mode): send the customer there to enter a card." }),
    organizationId: z.uuid(),
    customerId: z.string().openapi({ description: "The organization's Stripe customer, which the saved method is attached to." }),
  })
  .openapi('PaymentMethodSetupSession');

const setupRoute = createRoute({
  method: 'post',
  path: '/v1/organizations/{id}/payment-methods/setup',
  tags: ['Payments'],
  security: [{ bearer: [] }],
  summary: 'Start saving a payment method: a Stripe Checkout session in setup mode (card data never reaches Ledgerflow)',
  description:
    'Creates the organization\'s Stripe customer on first use. When Checkout completes, the Stripe webhook (`checkout.session.completed`, `setup_intent.succeeded`) makes the saved method the default that invoices are charged to. With the same Idempotency-Key, a retry returns the same session.',
  request: { params: z.object({ id: uuidParam('id') }), body: jsonBody(SetupPaymentMethodSchema) },
  responses: { 200: jsonResponse('The Checkout session to send the customer to', SetupSessionSchema), ...problemResponses(400, 401, 403, 404, 422, 503) },
});

/** Stripe's failures as problems: transient ones are worth retrying (503), rejections are not (422). */
function stripeProblem(error: unknown): unknown {
  if (isTransientStripeError(error)) return new ApiError(503, 'stripe_unavailable', 'Stripe did not answer; retry with the same Idempotency-Key.');
  if (error instanceof StripeRequestRejectedError) return new ApiError(422, 'stripe_request_rejected', error.message);
  return error;
}

/**
 * Names this request at Stripe. With an Idempotency-Key a client's retry is the same request (so
 * Stripe returns the same session even if our first transaction rolled back); the key is scoped
 * to the caller, as the Idempotency-Key middleware scopes it. Without one, each request is new.
 */
function requestKey(c: Context<AppEnv>): string {
  const key = c.req.header('idempotency-key');
  if (key === undefined) return `request:${c.var.requestId}`;
  return `key:${createHash('sha256').update(`${c.var.principal.id}\n${key}`).digest('hex').slice(0, 40)}`;
}

export function registerPaymentMethods(app: OpenAPIHono<AppEnv>) {
  app.openapi(setupRoute, async (c) => {
    const { id } = c.req.valid('param');
    const body = c.req.valid('json');
    await requireOrganization(c, 'paymentMethod.setup', id);
    const gateway = createStripeGateway(c.var.stripe);
    try {
      const organization = await ensureOrganizationCustomer(c.var.em, gateway, id);
      if (!organization?.stripeCustomerId) throw new ApiError(404, 'organization_not_found', `No organization ${id}.`);
      const session = await gateway.createSetupSession({
        customerId: organization.stripeCustomerId,
        organizationId: id,
        currency: organization.currency,
        successUrl: body.successUrl,
        cancelUrl: body.cancelUrl,
        requestKey: requestKey(c),
      });
      const view = { sessionId: session.id, url: session.url, organizationId: id, customerId: organization.stripeCustomerId };
      audit(c, { action: 'payment_method.setup_started', organizationId: id, targetType: 'checkout_session', targetId: session.id, after: view });
      return c.json(view, 200);
    } catch (error) {
      throw stripeProblem(error);
    }
  });
}
