import Stripe from 'stripe';
import type { Config } from '../config.js';
import { isHardDecline, stripeIdempotencyKeys, type ChargeResult } from '../domain/payments/index.js';

export type { ChargeResult } from '../domain/payments/index.js';

/**
 * The Stripe client. STRIPE_API_URL points it at stripe-mock in development and tests; unset,
 * it talks to Stripe itself. Retries are left to Temporal, which retries the whole activity with
 * the same idempotency key.
 */
export function createStripeClient(
  config: Pick<Config, 'STRIPE_SECRET_KEY' | 'STRIPE_API_URL'>,
  options: { timeoutMs?: number } = {},
): Stripe {
  const endpoint = config.STRIPE_API_URL ? new URL(config.STRIPE_API_URL) : undefined;
  return new Stripe(config.STRIPE_SECRET_KEY, {
    maxNetworkRetries: 0,
    telemetry: false,
    timeout: options.timeoutMs ?? 20_000,
    ...(endpoint
      ? {
          host: endpoint.hostname,
          port: Number(endpoint.port || (endpoint.protocol === 'https:' ? 443 : 80)),
          protocol: endpoint.protocol === 'https:' ? 'https' : 'http',
        }
      : {}),
  });
}

/**
 * Stripe refused a request for good (invalid parameters, a key reused with other parameters,
 * bad credentials, an unexpected state): sending it again unchanged fails the same way, so
 * callers must not retry it. Transient failures are thrown as Stripe's own errors instead.
 */
export class StripeRequestRejectedError extends Error {
  constructor(
    message: string,
    readonly code: string | undefined,
    readonly statusCode: number | undefined,
  ) {
    super(message);
    this.name = 'StripeRequestRejectedError';
  }
}

/**
 * Whether sending the same request again (same idempotency key) may succeed: network errors and
 * timeouts, 5xx, 429 (rate limits and `lock_timeout`), 409 (the key is in use by a request still
 * running) and anything Stripe marks `Stripe-Should-Retry: true`.
 */
export function isTransientStripeError(error: unknown): boolean {
  if (!(error instanceof Stripe.errors.StripeError)) return false;
  if (error instanceof Stripe.errors.StripeConnectionError) return true;
  if (error.headers?.['stripe-should-retry'] === 'true') return true;
  const status = error.statusCode;
  return status === undefined ? error instanceof Stripe.errors.StripeAPIError : status === 409 || status === 429 || status >= 500;
}

/** Rethrows a transient failure as it is (Temporal retries it) and anything else as a rejection. */
function rethrow(error: unknown, what: string): never {
  if (isTransientStripeError(error) || !(error instanceof Stripe.errors.StripeError)) throw error;
  throw new StripeRequestRejectedError(`Stripe refused to ${what}: ${error.message}`, error.code, error.statusCode);
}

export interface ChargeInvoiceRequest {
  invoiceId: string;
  /** 1 for the first collection attempt, then one more per dunning retry: each attempt is one PaymentIntent. */
  attempt: number;
  /** Minor units of `currency`. */
  amount: number;
  /** ISO 4217, e.g. "USD". */
  currency: string;
  customerId: string;
  paymentMethodId: string;
}

/** Where a Ledgerflow PaymentIntent belongs: the metadata `chargeInvoice` wrote on it. */
export interface PaymentIntentOwner {
  invoiceId: string;
  attempt: number | null;
}

/** Reads the invoice a PaymentIntent (or a charge of it) was created for, if Ledgerflow created it. */
export function ownerFromMetadata(metadata: Stripe.Metadata | null | undefined): PaymentIntentOwner | null {
  const invoiceId = metadata?.invoiceId;
  if (!invoiceId) return null;
  const attempt = Number(metadata.attempt);
  return { invoiceId, attempt: Number.isSafeInteger(attempt) && attempt > 0 ? attempt : null };
}

function declineOf(error: { code?: string | null; decline_code?: string | null; advice_code?: string | null; message?: string | null }, paymentIntentId?: string): ChargeResult {
  const code = error.decline_code ?? error.code ?? 'card_declined';
  return {
    outcome: 'declined',
    hard: isHardDecline({ code: error.code ?? null, declineCode: error.decline_code ?? null, adviceCode: error.advice_code ?? null }),
    code,
    message: error.message ?? 'The payment was declined.',
    ...(paymentIntentId === undefined ? {} : { paymentIntentId }),
  };
}

/** What a PaymentIntent's status after an off-session confirmation means for the invoice. */
function resultOf(intent: Stripe.PaymentIntent): ChargeResult {
  switch (intent.status) {
    case 'succeeded':
      return { outcome: 'succeeded', paymentIntentId: intent.id };
    case 'processing':
      return { outcome: 'processing', paymentIntentId: intent.id };
    case 'requires_action':
      return { outcome: 'requires_action', paymentIntentId: intent.id };
    case 'requires_payment_method':
      return declineOf(intent.last_payment_error ?? { code: 'payment_failed' }, intent.id);
    case 'canceled':
      return { outcome: 'declined', hard: false, code: 'payment_intent_canceled', message: `PaymentIntent ${intent.id} was canceled.`, paymentIntentId: intent.id };
    default:
      throw new StripeRequestRejectedError(`PaymentIntent ${intent.id} is ${intent.status} after confirmation`, 'unexpected_status', undefined);
  }
}

/**
 * Ledgerflow's calls to Stripe. Every call that creates something carries an idempotency key
 * built from business ids, never a random one, so a retry of the same call (a Temporal activity
 * retry, a client resending a request) makes Stripe replay its first answer instead of acting
 * twice. Transient failures throw Stripe's error (retry with the same arguments); permanent ones
 * throw StripeRequestRejectedError; card declines are results, not errors.
 */
export function createStripeGateway(stripe: Stripe) {
  return {
    /** The organization's Stripe customer; Stripe replays the same customer for the same organization. */
    async ensureCustomer(input: { organizationId: string; name: string; email?: string | null }): Promise<string> {
      try {
        const customer = await stripe.customers.create(
          { name: input.name, ...(input.email ? { email: input.email } : {}), metadata: { organizationId: input.organizationId } },
          { idempotencyKey: stripeIdempotencyKeys.customer(input.organizationId) },
        );
        return customer.id;
      } catch (error) {
        rethrow(error, `create the customer of organization ${input.organizationId}`);
      }
    },

    /**
     * A Checkout Session in setup mode: Stripe's page collects the card and attaches it to the
     * customer, so card data never reaches Ledgerflow. `requestKey` names the request asking for
     * it (the same key returns the same session).
     */
    async createSetupSession(input: {
      customerId: string;
      organizationId: string;
      currency: string;
      successUrl: string;
      cancelUrl: string;
      requestKey: string;
    }): Promise<{ id: string; url: string }> {
      let session: Stripe.Checkout.Session;
      try {
        session = await stripe.checkout.sessions.create(
          {
            mode: 'setup',
            customer: input.customerId,
            currency: input.currency.toLowerCase(),
            success_url: input.successUrl,
            cancel_url: input.cancelUrl,
            metadata: { organizationId: input.organizationId },
            setup_intent_data: { metadata: { organizationId: input.organizationId } },
          },
          { idempotencyKey: stripeIdempotencyKeys.setupSession(input.organizationId, input.requestKey) },
        );
      } catch (error) {
        rethrow(error, `create a setup session for organization ${input.organizationId}`);
      }
      if (!session.url) throw new StripeRequestRejectedError(`Checkout Session ${session.id} has no URL`, 'no_url', undefined);
      return { id: session.id, url: session.url };
    },

    /**
     * Charges one attempt of an invoice off-session on the saved payment method. The key
     * `invoice:<invoiceId>:charge:<attempt>` makes every retry of the attempt the same
     * PaymentIntent; a new attempt (a dunning retry) is a new PaymentIntent.
     */
    async chargeInvoice(input: ChargeInvoiceRequest): Promise<ChargeResult> {
      let intent: Stripe.PaymentIntent;
      try {
        intent = await stripe.paymentIntents.create(
          {
            amount: input.amount,
            currency: input.currency.toLowerCase(),
            customer: input.customerId,
            payment_method: input.paymentMethodId,
            confirm: true,
            off_session: true,
            // Off-session, nobody could follow a redirect: only methods that need none qualify.
            automatic_payment_methods: { enabled: true, allow_redirects: 'never' },
            metadata: { invoiceId: input.invoiceId, attempt: String(input.attempt) },
          },
          { idempotencyKey: stripeIdempotencyKeys.charge(input.invoiceId, input.attempt) },
        );
      } catch (error) {
        if (error instanceof Stripe.errors.StripeCardError) return declineOf(error, error.payment_intent?.id);
        rethrow(error, `charge invoice ${input.invoiceId} (attempt ${input.attempt})`);
      }
      return resultOf(intent);
    },

    /** Refunds (part of) a payment; the caller's key names the business event (e.g. the dispute). */
    async refund(input: { paymentIntentId: string; amount: number; idempotencyKey: string }): Promise<string> {
      try {
        const refund = await stripe.refunds.create(
          { payment_intent: input.paymentIntentId, amount: input.amount },
          { idempotencyKey: input.idempotencyKey },
        );
        return refund.id;
      } catch (error) {
        rethrow(error, `refund PaymentIntent ${input.paymentIntentId}`);
      }
    },

    /** The invoice a PaymentIntent was created for, read from Stripe (charges and disputes name only the intent). */
    async paymentIntentOwner(paymentIntentId: string): Promise<PaymentIntentOwner | null> {
      try {
        return ownerFromMetadata((await stripe.paymentIntents.retrieve(paymentIntentId)).metadata);
      } catch (error) {
        rethrow(error, `read PaymentIntent ${paymentIntentId}`);
      }
    },

    /** The payment method a completed SetupIntent saved, and its customer. */
    async setupIntentPaymentMethod(setupIntentId: string): Promise<{ paymentMethodId: string; customerId: string | null } | null> {
      try {
        const intent = await stripe.setupIntents.retrieve(setupIntentId);
        const paymentMethodId = typeof intent.payment_method === 'string' ? intent.payment_method : intent.payment_method?.id;
        if (!paymentMethodId) return null;
        const customerId = typeof intent.customer === 'string' ? intent.customer : (intent.customer?.id ?? null);
        return { paymentMethodId, customerId };
      } catch (error) {
        rethrow(error, `read SetupIntent ${setupIntentId}`);
      }
    },

    /** Makes a payment method the customer's default for invoices (what off-session charges use). */
    async setDefaultPaymentMethod(input: { customerId: string; paymentMethodId: string; idempotencyKey: string }): Promise<void> {
      try {
        await stripe.customers.update(
          input.customerId,
          { invoice_settings: { default_payment_method: input.paymentMethodId } },
          { idempotencyKey: input.idempotencyKey },
        );
      } catch (error) {
        rethrow(error, `set the default payment method of customer ${input.customerId}`);
      }
    },
  };
}

export type StripeGateway = ReturnType<typeof createStripeGateway>;
