import { ApplicationFailure } from '@temporalio/activity';
import type Stripe from 'stripe';
import type { Clock } from '../src/clock.js';
import { Organization } from '../src/db/entities/index.js';
import type { Orm } from '../src/db/orm.js';
import type { ChargeResult } from '../src/domain/payments/index.js';
import { ensureOrganizationCustomer } from '../src/integrations/stripe-customers.js';
import { createStripeGateway, StripeRequestRejectedError } from '../src/integrations/stripe.js';
import type { Logger } from '../src/logger.js';
import { withDomainFailures } from './domain-failures.js';

export type { ChargeResult } from '../src/domain/payments/index.js';

export interface PaymentActivityDeps {
  orm: Orm;
  stripe: Stripe;
  clock: Clock;
  logger: Logger;
}

export interface ChargeInvoicePaymentInput {
  invoiceId: string;
  /** 1 for the first attempt, +1 per dunning retry; with invoiceId it makes the Stripe idempotency key. */
  attempt: number;
  /** Minor units; positive. */
  amount: number;
  /** ISO 4217, e.g. "USD". */
  currency: string;
  /** The organization that pays (the invoice's billing account). */
  organizationId: string;
}

/**
 * A Stripe failure as the activity reports it: a permanent rejection is non-retryable (retrying
 * the same request cannot help); anything else is rethrown and Temporal retries the activity,
 * which sends the same idempotency key again.
 */
function asActivityFailure(error: unknown): never {
  if (error instanceof StripeRequestRejectedError) {
    throw ApplicationFailure.nonRetryable(error.message, 'StripeRequestRejected', { code: error.code ?? null, statusCode: error.statusCode ?? null });
  }
  throw error;
}

export function createPaymentActivities({ orm, stripe, logger }: PaymentActivityDeps) {
  const gateway = createStripeGateway(stripe);
  return withDomainFailures({
    /** The organization's Stripe customer id, creating the customer once (also under concurrent runs). */
    async ensureStripeCustomer(organizationId: string): Promise<string> {
      return orm.em.fork().transactional(async (em) => {
        const organization = await ensureOrganizationCustomer(em, gateway, organizationId).catch(asActivityFailure);
        if (!organization?.stripeCustomerId) throw ApplicationFailure.nonRetryable(`no organization ${organizationId}`, 'OrganizationNotFound');
        return organization.stripeCustomerId;
      });
    },

    /**
     * Charges one attempt of an invoice on the organization's default payment method. Writes
     * nothing: the caller records the result. Every retry of this activity for the same invoice
     * and attempt is the same Stripe PaymentIntent (key `invoice:<invoiceId>:charge:<attempt>`).
     */
    async chargeInvoicePayment(input: ChargeInvoicePaymentInput): Promise<ChargeResult> {
      if (!Number.isSafeInteger(input.amount) || input.amount <= 0) {
        throw ApplicationFailure.nonRetryable(`invoice ${input.invoiceId}: a charge needs a positive amount in minor units, not ${input.amount}`, 'InvalidChargeAmount');
      }
      const payer = await orm.em.fork().transactional((em) =>
        em.findOne(Organization, { id: input.organizationId }, { fields: ['stripeCustomerId', 'stripeDefaultPaymentMethodId'] }),
      );
      if (!payer) throw ApplicationFailure.nonRetryable(`no organization ${input.organizationId}`, 'OrganizationNotFound');
      if (!payer.stripeCustomerId || !payer.stripeDefaultPaymentMethodId) {
        return { outcome: 'declined', hard: false, code: 'no_payment_method', message: `Organization ${input.organizationId} has no payment method on file.` };
      }
      const result = await gateway
        .chargeInvoice({
          invoiceId: input.invoiceId,
          attempt: input.attempt,
          amount: input.amount,
          currency: input.currency,
          customerId: payer.stripeCustomerId,
          paymentMethodId: payer.stripeDefaultPaymentMethodId,
        })
        .catch(asActivityFailure);
      logger.info({ invoiceId: input.invoiceId, attempt: input.attempt, outcome: result.outcome }, 'invoice charge attempted');
      return result;
    },
  });
}

export type PaymentActivities = ReturnType<typeof createPaymentActivities>;
