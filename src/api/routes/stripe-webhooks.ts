import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import type { EntityManager } from '@mikro-orm/postgresql';
import { WorkflowNotFoundError } from '@temporalio/client';
import type { MiddlewareHandler } from 'hono';
import type Stripe from 'stripe';
import { organizationIdOfStripeCustomer, setDefaultPaymentMethodOfCustomer } from '../../db/repositories/organizations.js';
import { lockStripeEvent, recordStripeEvent, recordStripeEventOutcome } from '../../db/repositories/stripe-events.js';
import { stripeIdempotencyKeys } from '../../domain/payments/index.js';
import { effectOfStripeEvent, handledStripeEventTypes, type StripeEventEffect } from '../../integrations/stripe-events.js';
import { createStripeGateway, isTransientStripeError, StripeRequestRejectedError, type StripeGateway } from '../../integrations/stripe.js';
import { applyStripeDisputeReport } from '../../db/repositories/disputes.js';
import { workflowIds } from '../../temporal/workflow-ids.js';
import { dispatchWebhookEvents } from '../../webhooks/outbox.js';
import {
  chargeRefundedSignal,
  disputeChangedSignal,
  disputeOpenedSignal,
  paymentFailedSignal,
  paymentSucceededSignal,
} from '../../../workflows/messages/payment.js';
import type { AppEnv } from '../http/context.js';
import { ApiError, problemResponses } from '../http/problem.js';
import { jsonResponse } from '../http/schemas.js';

/** Stripe signs its requests itself: this path takes no bearer token and keeps its own transactions. */
export const stripeWebhookPath = '/v1/webhooks/stripe';

/** Runs `middleware` on every request except Stripe's webhook deliveries. */
export function exceptStripeWebhook(middleware: MiddlewareHandler<AppEnv>): MiddlewareHandler<AppEnv> {
  return (c, next) => (c.req.path === stripeWebhookPath ? next() : middleware(c, next));
}

const ReceiptSchema = z
  .object({
    received: z.literal(true),
    duplicate: z.boolean().openapi({ description: 'The event was already processed by an earlier delivery; nothing was done again.' }),
    outcome: z.string().nullable().openapi({ description: 'What processing the event did (or why it did nothing), as recorded with it.' }),
  })
  .openapi('StripeWebhookReceipt');

const route = createRoute({
  method: 'post',
  path: stripeWebhookPath,
  tags: ['Webhooks'],
  security: [],
  summary: 'Receive a Stripe event (verified by its Stripe-Signature header, not by a bearer token)',
  description: [
    `Subscribe the endpoint to ${handledStripeEventTypes.map((type) => `\`${type}\``).join(', ')}; other events are acknowledged and ignored.`,
    'The signature is checked on the raw body with STRIPE_WEBHOOK_SECRET and a timestamp tolerance (STRIPE_WEBHOOK_TOLERANCE_SECONDS).',
    'Each event id is processed once however often it is delivered; a delivery whose processing could not finish (Temporal or Stripe unreachable) answers 503 so Stripe delivers it again.',
  ].join(' '),
  request: {
    body: {
      required: true,
      // Not a zod schema on purpose: the body must reach the signature check byte for byte, unparsed.
      content: { 'application/json': { schema: { type: 'object', description: 'A Stripe Event object, exactly as Stripe sent it.' } } },
    },
  },
  responses: {
    200: jsonResponse('The event is recorded (and processed, unless `outcome` says why not)', ReceiptSchema),
    ...problemResponses(400, 503),
  },
});

type Receipt = z.infer<typeof ReceiptSchema>;

/** Stripe's transient failures end the delivery with a 503 (Stripe delivers again); rejections are recorded. */
function stripeFailure(error: unknown): never {
  if (isTransientStripeError(error)) throw new ApiError(503, 'stripe_unavailable', 'Stripe did not answer while processing the event; it will be delivered again.');
  throw error;
}

/**
 * How long a signal may take. Temporal answers in milliseconds; an unreachable Temporal would
 * otherwise keep the delivery (and the event's row lock) waiting through the client's retries.
 */
const signalDeadlineMs = 5_000;

/** Sends the effect's signal through its definition in workflows/messages/payment.ts. */
function sendSignal(temporal: AppEnv['Variables']['temporal'], effect: Extract<StripeEventEffect, { kind: 'signal' }>): Promise<void> {
  return temporal.connection.withDeadline(Date.now() + signalDeadlineMs, () => signal(temporal, effect));
}

function signal(temporal: AppEnv['Variables']['temporal'], effect: Extract<StripeEventEffect, { kind: 'signal' }>): Promise<void> {
  const handle = temporal.workflow.getHandle(effect.workflowId);
  switch (effect.signal) {
    case 'paymentSucceeded':
      return handle.signal(paymentSucceededSignal, effect.payload);
    case 'paymentFailed':
      return handle.signal(paymentFailedSignal, effect.payload);
    case 'chargeRefunded':
      return handle.signal(chargeRefundedSignal, effect.payload);
  }
}

interface Applied {
  /** The effect happened (or there was nothing to do): later deliveries are duplicates. */
  done: boolean;
  outcome: string;
  /** What is told once the transaction has committed (a workflow that reads what it wrote). */
  afterCommit?: () => Promise<void>;
}

type Services = Pick<AppEnv['Variables'], 'orm' | 'temporal' | 'clock' | 'logger' | 'config'> & { gateway: StripeGateway };

/** What the effect did; throws (leaving the event unprocessed) when it could not finish. */
async function apply(services: Services, em: EntityManager, eventId: string, effect: StripeEventEffect): Promise<Applied> {
  switch (effect.kind) {
    case 'ignore':
      return { done: true, outcome: `ignored: ${effect.reason}` };
    case 'signal':
      try {
        await sendSignal(services.temporal, effect);
      } catch (error) {
        // A payment workflow that does not exist (yet, or any more) cannot take the signal: the
        // event stays unprocessed for reconciliation, and Stripe is not made to retry forever.
        if (error instanceof WorkflowNotFoundError) return { done: false, outcome: `workflow ${effect.workflowId} not found` };
        services.logger.warn({ err: error, eventId }, 'signal not delivered');
        throw new ApiError(503, 'temporal_unavailable', 'Temporal did not take the signal; the event will be delivered again.');
      }
      return { done: true, outcome: `signaled ${effect.signal} to ${effect.workflowId}` };
    case 'defaultPaymentMethod':
      return storeDefaultPaymentMethod(em, services.gateway, eventId, effect, services.clock.now());
    case 'stripeDispute':
      return storeStripeDispute(services, em, effect);
  }
}

/**
 * Records Stripe's report of a card dispute (reports arrive in any order: a closed dispute never
 * reopens). Once committed, the invoice's collection is told, so it pauses while the dispute is
 * open; if that signal is lost, collection still reads the disputes with the invoice before its next step.
 */
async function storeStripeDispute(services: Services, em: EntityManager, effect: Extract<StripeEventEffect, { kind: 'stripeDispute' }>): Promise<Applied> {
  const { report, opened } = effect;
  const { dispute, changed, eventIds } = await applyStripeDisputeReport(em, report, services.clock.now());
  if (!dispute) return { done: true, outcome: `ignored: no invoice ${report.invoiceId} for dispute ${report.stripeDisputeId}` };
  const { temporal, orm, config, logger } = services;
  const afterCommit = async () => {
    await dispatchWebhookEvents({ temporal, taskQueue: config.TEMPORAL_TASK_QUEUE, orm, logger }, eventIds);
    const handle = temporal.workflow.getHandle(workflowIds.payment(report.invoiceId));
    try {
      await temporal.connection.withDeadline(Date.now() + signalDeadlineMs, () =>
        opened ? handle.signal(disputeOpenedSignal, opened) : handle.signal(disputeChangedSignal, { disputeId: dispute.id }),
      );
    } catch (error) {
      logger.warn({ err: error, invoiceId: report.invoiceId, stripeDisputeId: report.stripeDisputeId }, 'collection not told of the card dispute; it reads it before its next step');
    }
  };
  return { done: true, outcome: `dispute ${report.stripeDisputeId} is ${dispute.status}${changed ? '' : ' (unchanged: a later report stands)'}`, afterCommit };
}

/**
 * Records a verified event once by its id and processes it unless an earlier delivery did. The
 * receipt commits on its own first, so the event is on record even if processing fails and the
 * next delivery finds it; processing then holds the row's lock, so concurrent deliveries of one
 * event queue and only the first does anything.
 */
async function receive(services: Services, event: Stripe.Event, raw: string): Promise<Receipt> {
  const { orm, clock, gateway } = services;
  const em = orm.em.fork();
  await recordStripeEvent(em, { id: event.id, type: event.type, payload: raw, receivedAt: clock.now() });
  let afterCommit: Applied['afterCommit'];
  const receipt = await em.transactional(async (tx) => {
    const row = await lockStripeEvent(tx, event.id);
    if (row?.processedAt) return { received: true as const, duplicate: true, outcome: row.outcome };
    let applied: Applied;
    try {
      applied = await apply(services, tx, event.id, await effectOfStripeEvent(event, gateway));
    } catch (error) {
      if (!(error instanceof StripeRequestRejectedError)) stripeFailure(error);
      applied = { done: false, outcome: `Stripe refused a follow-up request: ${error.message}` };
    }
    await recordStripeEventOutcome(tx, event.id, applied.done ? clock.now() : null, applied.outcome.slice(0, 500));
    afterCommit = applied.afterCommit;
    return { received: true as const, duplicate: false, outcome: applied.outcome };
  });
  await afterCommit?.();
  return receipt;
}

export function registerStripeWebhooks(app: OpenAPIHono<AppEnv>) {
  app.openapi(route, async (c) => {
    const { config, stripe, orm, temporal, clock, logger } = c.var;
    const secret = config.STRIPE_WEBHOOK_SECRET;
    if (!secret) throw new ApiError(503, 'stripe_webhooks_not_configured', 'STRIPE_WEBHOOK_SECRET is not set, so Stripe events cannot be verified.');
    const raw = await c.req.text();
    let event: Stripe.Event;
    try {
      event = stripe.webhooks.constructEvent(raw, c.req.header('stripe-signature') ?? '', secret, config.STRIPE_WEBHOOK_TOLERANCE_SECONDS ?? 300, undefined, clock.now().getTime());
    } catch {
      throw new ApiError(400, 'stripe_signature_invalid', 'The Stripe-Signature header is missing, does not sign this body with the endpoint secret, or its timestamp is outside the tolerance.');
    }
    if (typeof event.id !== 'string' || typeof event.type !== 'string' || typeof event.data?.object !== 'object') {
      throw new ApiError(400, 'stripe_event_malformed', 'The signed body is not a Stripe event.');
    }
    const receipt = await receive({ orm, temporal, clock, logger, config, gateway: createStripeGateway(stripe) }, event, raw);
    logger.info({ eventId: event.id, type: event.type, duplicate: receipt.duplicate, outcome: receipt.outcome }, 'stripe event received');
    return c.json(receipt, 200);
  });
}

/**
 * Makes a saved payment method the default of the organization owning the customer, in
 * PostgreSQL and at Stripe. Events may arrive out of order: a method reported earlier than the
 * current default never replaces it.
 */
async function storeDefaultPaymentMethod(
  em: EntityManager,
  gateway: StripeGateway,
  eventId: string,
  effect: Extract<StripeEventEffect, { kind: 'defaultPaymentMethod' }>,
  now: Date,
): Promise<Applied> {
  const organizationId = await setDefaultPaymentMethodOfCustomer(em, { ...effect, now });
  if (organizationId === undefined) {
    const owner = await organizationIdOfStripeCustomer(em, effect.customerId);
    return {
      done: true,
      outcome: owner
        ? `ignored: organization ${owner} already has a payment method reported later than ${effect.paymentMethodId}`
        : `ignored: no organization has Stripe customer ${effect.customerId}`,
    };
  }
  await gateway.setDefaultPaymentMethod({
    customerId: effect.customerId,
    paymentMethodId: effect.paymentMethodId,
    idempotencyKey: stripeIdempotencyKeys.defaultPaymentMethod(eventId),
  });
  return { done: true, outcome: `payment method ${effect.paymentMethodId} is the default of organization ${organizationId}` };
}
