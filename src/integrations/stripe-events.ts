import type Stripe from 'stripe';
import { isHardDecline } from '../domain/payments/index.js';
import type { StripeDisputeReport } from '../db/repositories/disputes.js';
import { workflowIds } from '../temporal/workflow-ids.js';
import type {
  ChargeRefundedEvent,
  DisputeOpenedEvent,
  PaymentFailedEvent,
  PaymentSucceededEvent,
} from '../../workflows/messages/payment.js';
import { ownerFromMetadata, type StripeGateway } from './stripe.js';

/** What one Stripe event asks Ledgerflow to do. */
export type StripeEventEffect =
  | { kind: 'signal'; workflowId: string; signal: 'paymentSucceeded'; payload: PaymentSucceededEvent }
  | { kind: 'signal'; workflowId: string; signal: 'paymentFailed'; payload: PaymentFailedEvent }
  | { kind: 'signal'; workflowId: string; signal: 'chargeRefunded'; payload: ChargeRefundedEvent }
  /** Create or update the card dispute (`source: stripe`) of the invoice the charge paid; then tell its collection. */
  | { kind: 'stripeDispute'; report: StripeDisputeReport; opened: DisputeOpenedEvent | null }
  /** Make the payment method the default of the organization that owns the customer. */
  | { kind: 'defaultPaymentMethod'; customerId: string; paymentMethodId: string; reportedAt: Date }
  /** Nothing to do (another event type, or an object Ledgerflow did not create). */
  | { kind: 'ignore'; reason: string };

/** The events to subscribe the endpoint to; others are acknowledged and ignored. */
export const handledStripeEventTypes = [
  'payment_intent.succeeded',
  'payment_intent.payment_failed',
  'charge.refunded',
  'charge.dispute.created',
  'charge.dispute.updated',
  'charge.dispute.closed',
  'checkout.session.completed',
  'setup_intent.succeeded',
] as const;

const idOf = (value: string | { id: string } | null | undefined): string | null => (typeof value === 'string' ? value : (value?.id ?? null));

/**
 * Decides what a verified Stripe event means. Charges and disputes name only their
 * PaymentIntent, so the invoice is read from the charge's metadata or, failing that, from the
 * PaymentIntent at Stripe; a completed Checkout setup names only its SetupIntent, which is read
 * for the saved payment method. Those reads may throw (Stripe unreachable): the event is then
 * retried on its next delivery.
 */
export async function effectOfStripeEvent(event: Stripe.Event, gateway: StripeGateway): Promise<StripeEventEffect> {
  const occurredAt = new Date(event.created * 1000).toISOString();
  const stripeEventId = event.id;
  const notOurs = (what: string): StripeEventEffect => ({ kind: 'ignore', reason: `${what} was not created by Ledgerflow (no invoiceId metadata)` });

  switch (event.type) {
    case 'payment_intent.succeeded': {
      const intent = event.data.object;
      const owner = ownerFromMetadata(intent.metadata);
      if (!owner) return notOurs(`PaymentIntent ${intent.id}`);
      return {
        kind: 'signal',
        workflowId: workflowIds.payment(owner.invoiceId),
        signal: 'paymentSucceeded',
        payload: { stripeEventId, paymentIntentId: intent.id, attempt: owner.attempt, amount: intent.amount_received, currency: intent.currency.toUpperCase(), occurredAt },
      };
    }
    case 'payment_intent.payment_failed': {
      const intent = event.data.object;
      const owner = ownerFromMetadata(intent.metadata);
      if (!owner) return notOurs(`PaymentIntent ${intent.id}`);
      const error = intent.last_payment_error;
      return {
        kind: 'signal',
        workflowId: workflowIds.payment(owner.invoiceId),
        signal: 'paymentFailed',
        payload: {
          stripeEventId,
          paymentIntentId: intent.id,
          attempt: owner.attempt,
          amount: intent.amount,
          failureCode: error?.decline_code ?? error?.code ?? null,
          hard: isHardDecline({ code: error?.code ?? null, declineCode: error?.decline_code ?? null, adviceCode: error?.advice_code ?? null }),
          occurredAt,
        },
      };
    }
    case 'charge.refunded': {
      const charge = event.data.object;
      const paymentIntentId = idOf(charge.payment_intent);
      if (!paymentIntentId) return { kind: 'ignore', reason: `charge ${charge.id} has no PaymentIntent` };
      const owner = ownerFromMetadata(charge.metadata) ?? (await gateway.paymentIntentOwner(paymentIntentId));
      if (!owner) return notOurs(`PaymentIntent ${paymentIntentId}`);
      return {
        kind: 'signal',
        workflowId: workflowIds.payment(owner.invoiceId),
        signal: 'chargeRefunded',
        payload: { stripeEventId, paymentIntentId, amountRefunded: charge.amount_refunded, occurredAt },
      };
    }
    case 'charge.dispute.created':
    case 'charge.dispute.updated':
    case 'charge.dispute.closed': {
      const dispute = event.data.object;
      const paymentIntentId = idOf(dispute.payment_intent);
      if (!paymentIntentId) return { kind: 'ignore', reason: `dispute ${dispute.id} has no PaymentIntent` };
      const owner = ownerFromMetadata(dispute.metadata) ?? (await gateway.paymentIntentOwner(paymentIntentId));
      if (!owner) return notOurs(`PaymentIntent ${paymentIntentId}`);
      return {
        kind: 'stripeDispute',
        report: {
          stripeDisputeId: dispute.id,
          paymentIntentId,
          invoiceId: owner.invoiceId,
          amount: dispute.amount,
          currency: dispute.currency.toUpperCase(),
          reason: dispute.reason,
          stripeStatus: dispute.status,
          reportedAt: new Date(occurredAt),
        },
        opened: event.type === 'charge.dispute.created' ? { stripeEventId, paymentIntentId, disputeId: dispute.id, amount: dispute.amount, reason: dispute.reason, occurredAt } : null,
      };
    }
    case 'checkout.session.completed': {
      const session = event.data.object;
      if (session.mode !== 'setup') return { kind: 'ignore', reason: `Checkout Session ${session.id} is in ${session.mode} mode, not setup` };
      const setupIntentId = idOf(session.setup_intent);
      const customerId = idOf(session.customer);
      if (!setupIntentId || !customerId) return { kind: 'ignore', reason: `Checkout Session ${session.id} names no SetupIntent or customer` };
      const saved = await gateway.setupIntentPaymentMethod(setupIntentId);
      if (!saved) return { kind: 'ignore', reason: `SetupIntent ${setupIntentId} saved no payment method` };
      return { kind: 'defaultPaymentMethod', customerId, paymentMethodId: saved.paymentMethodId, reportedAt: new Date(occurredAt) };
    }
    case 'setup_intent.succeeded': {
      const intent = event.data.object;
      const paymentMethodId = idOf(intent.payment_method);
      const customerId = idOf(intent.customer);
      if (!paymentMethodId || !customerId) return { kind: 'ignore', reason: `SetupIntent ${intent.id} names no payment method or customer` };
      return { kind: 'defaultPaymentMethod', customerId, paymentMethodId, reportedAt: new Date(occurredAt) };
    }
    default:
      return { kind: 'ignore', reason: `event type ${event.type} is not handled` };
  }
}
