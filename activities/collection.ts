import type { EntityManager } from '@mikro-orm/postgresql';
import { ApplicationFailure, Context } from '@temporalio/activity';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import type Stripe from 'stripe';
import type { Clock } from '../src/clock.js';
import { Invoice } from '../src/db/entities/index.js';
import { invoiceEventData, lockInvoice, markUncollectible, outstandingOf, recordReceipt } from '../src/db/repositories/invoice-payments.js';
import { activeDisputeIdsOf } from '../src/db/repositories/disputes.js';
import { liveSubscriptionIdsOfInvoiceAccount } from '../src/db/repositories/subscriptions.js';
import type { Orm } from '../src/db/orm.js';
import type { Logger } from '../src/logger.js';
import { workflowIds } from '../src/temporal/workflow-ids.js';
import { dispatchWebhookEvents, recordWebhookEvent } from '../src/webhooks/outbox.js';
import type { CollectionInvoice, PaymentFailure, ReminderRequest, StripePaymentReceipt } from '../workflows/messages/payment.js';
import { withDomainFailures } from './domain-failures.js';

export interface CollectionActivityDeps {
  orm: Orm;
  stripe: Stripe;
  clock: Clock;
  logger: Logger;
}

/** The invoice as collection sees it, with its active disputes (collection pauses while there is one). */
async function collectionInvoiceOf(em: EntityManager, invoice: Invoice): Promise<CollectionInvoice> {
  return {
    invoiceId: invoice.id,
    organizationId: invoice.organization.id,
    number: invoice.number ?? null,
    status: invoice.status,
    collectionMethod: invoice.collectionMethod,
    currency: invoice.currency,
    amountOwed: outstandingOf(invoice).receivable,
    dueAt: invoice.dueAt?.toISOString() ?? null,
    activeDisputeIds: await activeDisputeIdsOf(em, invoice.id),
  };
}

/** The database steps of `payment:<invoiceId>`. Each runs in its own transaction and is idempotent: a retry changes nothing more. */
export function createCollectionActivities({ orm, clock, logger }: CollectionActivityDeps) {
  /** Runs `work` in a transaction on the locked invoice, then dispatches the webhook events it recorded. */
  async function onInvoice<T>(invoiceId: string, work: (em: EntityManager, invoice: Invoice) => Promise<{ result: T; eventIds: string[] }>): Promise<T> {
    const { result, eventIds } = await orm.em.fork().transactional(async (em) => {
      const invoice = await lockInvoice(em, invoiceId);
      if (!invoice) throw ApplicationFailure.nonRetryable(`no invoice ${invoiceId}`, 'InvoiceNotFound');
      return work(em, invoice);
    });
    // After the commit; if this is lost, the dispatch sweep starts the deliveries instead.
    if (eventIds.length) {
      const { client, info } = Context.current();
      await dispatchWebhookEvents({ temporal: client, taskQueue: info.taskQueue, orm, logger }, eventIds);
    }
    return result;
  }

  return withDomainFailures({
    /**
     * Starts `payment:<invoiceId>` through the client rather than as a child of the billing run:
     * that run continues as new right after, so the two would share nothing but a parent link.
     * Starting again finds the running (or finished) collection; only a failed one is started anew.
     */
    async startPaymentCollection(invoiceId: string): Promise<void> {
      const { client, info } = Context.current();
      try {
        await client.workflow.start('paymentCollection', {
          workflowId: workflowIds.payment(invoiceId),
          taskQueue: info.taskQueue,
          args: [{ invoiceId }],
          workflowIdReusePolicy: 'ALLOW_DUPLICATE_FAILED_ONLY',
        });
      } catch (error) {
        if (!(error instanceof WorkflowExecutionAlreadyStartedError)) throw error;
      }
    },

    /** The invoice as collection sees it. Retryable when missing: a workflow may start just before its invoice commits. */
    async loadInvoiceForCollection(invoiceId: string): Promise<CollectionInvoice> {
      const invoice = await orm.em.fork().transactional(async (em) => {
        const found = await em.findOne(Invoice, { id: invoiceId });
        return found && collectionInvoiceOf(em, found);
      });
      if (!invoice) throw ApplicationFailure.retryable(`invoice ${invoiceId} is not visible (yet)`, 'InvoiceNotFound');
      return invoice;
    },

    /** Records a successful Stripe payment once per PaymentIntent (`recorded: false` for one already recorded). */
    async recordStripePayment(receipt: StripePaymentReceipt): Promise<{ recorded: boolean; invoice: CollectionInvoice }> {
      return onInvoice(receipt.invoiceId, async (em, invoice) => {
        const { payment, eventIds } = await recordReceipt(
          em,
          invoice,
          {
            method: 'stripe',
            reference: receipt.paymentIntentId,
            amount: receipt.amount,
            currency: receipt.currency,
            receivedAt: new Date(receipt.receivedAt),
            recordedBy: `workflow:payment:${receipt.invoiceId}`,
          },
          clock.now(),
        );
        if (payment) logger.info({ invoiceId: invoice.id, paymentIntentId: receipt.paymentIntentId, status: invoice.status }, 'stripe payment recorded');
        return { result: { recorded: payment !== null, invoice: await collectionInvoiceOf(em, invoice) }, eventIds };
      });
    },

    /** `invoice.payment_failed`, once per attempt. */
    async recordPaymentFailure(failure: PaymentFailure): Promise<void> {
      return onInvoice(failure.invoiceId, async (em, invoice) => {
        const eventId = await recordWebhookEvent(em, {
          organizationId: invoice.organization.id,
          type: 'invoice.payment_failed',
          data: {
            ...invoiceEventData(invoice),
            attempt: failure.attempt,
            paymentIntentId: failure.paymentIntentId,
            declineCode: failure.declineCode,
            hardDecline: failure.hard,
            nextAttemptAt: failure.nextAttemptAt,
          },
          dedupeKey: `invoice.payment_failed:${invoice.id}:${failure.attempt}`,
        });
        logger.info({ invoiceId: invoice.id, attempt: failure.attempt, declineCode: failure.declineCode, hard: failure.hard }, 'invoice payment failed');
        return { result: undefined, eventIds: [eventId] };
      });
    },

    /** Writes off an open invoice; any other status is left as it is (paid meanwhile, or already written off). */
    async markInvoiceUncollectible(invoiceId: string): Promise<CollectionInvoice> {
      return onInvoice(invoiceId, async (em, invoice) => {
        const eventIds = invoice.status === 'open' ? await markUncollectible(em, invoice, clock.now()) : [];
        if (eventIds.length) logger.info({ invoiceId, number: invoice.number }, 'invoice marked uncollectible');
        return { result: await collectionInvoiceOf(em, invoice), eventIds };
      });
    },

    /** `invoice.payment_reminder` for an invoice still open; false when it no longer is. */
    async sendPaymentReminder(reminder: ReminderRequest): Promise<boolean> {
      return onInvoice(reminder.invoiceId, async (em, invoice) => {
        if (invoice.status !== 'open') return { result: false, eventIds: [] };
        const eventId = await recordWebhookEvent(em, {
          organizationId: invoice.organization.id,
          type: 'invoice.payment_reminder',
          data: { ...invoiceEventData(invoice), reminder: reminder.relation, days: reminder.days },
          dedupeKey: `invoice.payment_reminder:${invoice.id}:${reminder.key}`,
        });
        return { result: true, eventIds: [eventId] };
      });
    },

    /** The live (not canceled) subscriptions of the invoice's account: its organization and every organization below it. */
    async accountSubscriptionIds(invoiceId: string): Promise<string[]> {
      return orm.em.fork().transactional((em) => liveSubscriptionIdsOfInvoiceAccount(em, invoiceId));
    },
  });
}

export type CollectionActivities = ReturnType<typeof createCollectionActivities>;
