import { Context } from '@temporalio/activity';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { Clock } from '../src/clock.js';
import { computeInvoice, journalForFinalizedInvoice, usageWindows } from '../src/domain/index.js';
import { AuditEvent, Invoice, InvoiceLine, Organization, type CollectionMethod } from '../src/db/entities/index.js';
import { dayStart, horizonAfter, loadBillingAccount, nextBillingDayOf, nextPeriodBoundary } from '../src/db/repositories/billing.js';
import { invoiceEventData } from '../src/db/repositories/invoice-payments.js';
import { postJournalEntry } from '../src/db/repositories/journal.js';
import type { Orm } from '../src/db/orm.js';
import type { Logger } from '../src/logger.js';
import { workflowIds } from '../src/temporal/workflow-ids.js';
import { dispatchWebhookEvents, recordWebhookEvent } from '../src/webhooks/outbox.js';
import type { BillingFailure } from '../workflows/messages.js';
import { withDomainFailures } from './domain-failures.js';

export interface InvoicingActivityDeps {
  orm: Orm;
  clock: Clock;
  logger: Logger;
}

/** What closing a billing period produced: the account's invoice for that billing day, or nothing due. */
export interface ClosedPeriod {
  invoiceId: string;
  number: string;
  status: Invoice['status'];
  amountDue: number;
  collectionMethod: CollectionMethod;
}

/** Invoice numbers are gapless per prefix: one prefix per billing account. */
export const invoicePrefixOf = (accountId: string) => `INV-${accountId.slice(0, 8).toUpperCase()}`;

async function nextInvoiceNumber(em: EntityManager, prefix: string): Promise<string> {
  // In the finalizing transaction: a rollback gives the number back, so numbers have no gaps.
  const [row] = await em.execute<{ number: string }[]>(
    `insert into invoice_number_sequences (prefix, next_number) values (?, 2)
     on conflict (prefix) do update set next_number = invoice_number_sequences.next_number + 1
     returning next_number - 1 as number`,
    [prefix],
  );
  return `${prefix}-${String(row!.number).padStart(6, '0')}`;
}

function closedPeriodOf(invoice: Invoice): ClosedPeriod {
  return { invoiceId: invoice.id, number: invoice.number!, status: invoice.status, amountDue: invoice.amountDue, collectionMethod: invoice.collectionMethod };
}

/** What closing a billing day answers: its invoice, and the next billing day after it. */
export interface ClosedBillingDay {
  invoice: ClosedPeriod | null;
  /** As `nextBillingDay` would answer right after this closing; null when no subscription will start a period. */
  nextBillingDay: string | null;
}

export function createInvoicingActivities({ orm, clock, logger }: InvoicingActivityDeps) {
  const activities = {
    /** `nextBillingDayOf` for the whole account; `today` is the workflow's day. Previews ask the same function. */
    async nextBillingDay(accountId: string, afterDay: string | null, today: string): Promise<string | null> {
      return nextBillingDayOf(orm.em.fork(), accountId, afterDay, today);
    },

    /**
     * Closes the account's billing day: proposes the invoice with the domain engine, persists and
     * finalizes it (gapless number, balanced journal, `invoice.finalized` event) and closes usage up
     * to it — all in one transaction. Idempotent: the (account, billing day) unique key means a second
     * run, a retry or a reset workflow finds the first invoice (null when nothing is due). Answers the
     * next billing day too, from the account it has just loaded, so the next run need not ask.
     */
    async closeBillingDay(input: { accountId: string; billingDay: string }): Promise<ClosedBillingDay> {
      const eventIds: string[] = [];
      const { invoice, subscriptions } = await orm.em.fork().transactional(async (em) => {
        // One closing per account at a time: a concurrent run waits here, then finds the invoice.
        // `no key update`: usage ingestion's foreign-key checks take `key share` on this row while it
        // holds its subscriptions `for share`, which this closing then updates; `for update` would deadlock.
        await em.execute('select id from organizations where id = ? for no key update', [input.accountId]);
        const existing = await em.findOne(Invoice, { organization: input.accountId, billingDate: dayStart(input.billingDay) });
        if (existing) return { invoice: closedPeriodOf(existing), subscriptions: null };
        const loaded = await loadBillingAccount(em, input.accountId, input.billingDay);
        if (!loaded) throw new Error(`billing account ${input.accountId} not found`);
        const proposal = computeInvoice(loaded.input);
        for (const subscription of loaded.input.subscriptions) {
          const closedThrough = usageWindows(subscription, input.billingDay).at(-1)?.periodEnd;
          if (closedThrough) {
            await em.execute('update subscriptions set usage_closed_through = greatest(coalesce(usage_closed_through, ?), ?) where id = ?', [
              dayStart(closedThrough),
              dayStart(closedThrough),
              subscription.id,
            ]);
          }
        }
        if (proposal.lines.length === 0) return { invoice: null, subscriptions: loaded.input.subscriptions };
        const now = clock.now();
        const { organization } = loaded;
        const collectionMethod = organization.paymentTerms;
        const invoice = em.create(Invoice, {
          id: crypto.randomUUID(),
          organization: em.getReference(Organization, organization.id),
          billingDate: dayStart(input.billingDay),
          number: await nextInvoiceNumber(em, invoicePrefixOf(input.accountId)),
          status: proposal.amountDue === 0 ? 'paid' : 'open',
          currency: proposal.currency,
          collectionMethod,
          periodStart: dayStart(proposal.periodStart),
          periodEnd: dayStart(proposal.periodEnd),
          subtotal: proposal.subtotal,
          discount: proposal.discount,
          tax: proposal.tax,
          total: proposal.total,
          creditApplied: proposal.creditApplied,
          amountDue: proposal.amountDue,
          amountPaid: 0,
          amountCredited: 0,
          dueAt: collectionMethod === 'send_invoice' ? new Date(now.getTime() + organization.netTermsDays * 86_400_000) : now,
          finalizedAt: now,
          paidAt: proposal.amountDue === 0 ? now : null,
          createdAt: now,
          updatedAt: now,
        });
        proposal.lines.forEach((line, position) =>
          em.create(InvoiceLine, {
            id: crypto.randomUUID(),
            invoice,
            position,
            key: line.key,
            type: line.type,
            description: line.description,
            organizationId: line.organizationId,
            subscriptionId: line.subscriptionId ?? null,
            departmentId: line.departmentId ?? null,
            metricCode: line.metricCode ?? null,
            couponId: line.couponId ?? null,
            quantity: line.quantity,
            unitAmount: line.unitAmount ?? null,
            amount: line.amount,
            periodStart: dayStart(line.periodStart),
            periodEnd: dayStart(line.periodEnd),
          }),
        );
        await em.flush();
        await postJournalEntry(em, {
          organizationId: input.accountId,
          invoiceId: invoice.id,
          sourceKey: `invoice:${invoice.id}:finalized`,
          description: `Invoice ${invoice.number} finalized`,
          currency: invoice.currency,
          postedAt: now,
          lines: journalForFinalizedInvoice(proposal),
        });
        eventIds.push(
          await recordWebhookEvent(em, {
            organizationId: input.accountId,
            type: 'invoice.finalized',
            data: { ...invoiceEventData(invoice), periodStart: invoice.periodStart.toISOString(), periodEnd: invoice.periodEnd.toISOString() },
            dedupeKey: `invoice.finalized:${invoice.id}`,
          }),
        );
        logger.info({ accountId: input.accountId, invoiceId: invoice.id, number: invoice.number, amountDue: invoice.amountDue }, 'invoice finalized');
        return { invoice: closedPeriodOf(invoice), subscriptions: loaded.input.subscriptions };
      });
      if (eventIds.length) {
        const { client, info } = Context.current();
        await dispatchWebhookEvents({ temporal: client, taskQueue: info.taskQueue, orm, logger }, eventIds);
      }
      const nextBillingDay = subscriptions
        ? nextPeriodBoundary(subscriptions, input.billingDay, horizonAfter(input.billingDay))
        : await activities.nextBillingDay(input.accountId, input.billingDay, input.billingDay);
      return { invoice, nextBillingDay };
    },

    /** `closeBillingDay`'s invoice alone: what runs recorded before the `closing-answers-next-billing-day` patch called. */
    async closeBillingPeriod(input: { accountId: string; billingDay: string }): Promise<ClosedPeriod | null> {
      return (await activities.closeBillingDay(input)).invoice;
    },

    /**
     * Reports a closing the domain refused: a `billing.failed` webhook event and an audit row, in
     * one transaction, once per account, billing day and code (the event's dedupe key decides, under
     * the account's lock), however often the closing is tried again that day.
     */
    async recordBillingFailure(input: { accountId: string; failure: BillingFailure }): Promise<void> {
      const { accountId, failure } = input;
      const dedupeKey = `billing.failed:${accountId}:${failure.billingDay}:${failure.code}`;
      const eventId = await orm.em.fork().transactional(async (em) => {
        await em.execute('select id from organizations where id = ? for no key update', [accountId]);
        const [known] = await em.execute<{ id: string }[]>('select id from webhook_events where dedupe_key = ?', [dedupeKey]);
        if (known) return null;
        const data = { accountId, billingDay: failure.billingDay, code: failure.code, message: failure.message, failedAt: failure.failedAt };
        const recorded = await recordWebhookEvent(em, { organizationId: accountId, type: 'billing.failed', data, dedupeKey });
        em.create(AuditEvent, {
          occurredAt: clock.now(),
          actorType: 'workflow',
          actorId: workflowIds.billing(accountId),
          organizationId: accountId,
          action: 'billing.failed',
          targetType: 'organization',
          targetId: accountId,
          before: null,
          after: data,
          requestId: workflowIds.billing(accountId),
        });
        await em.flush();
        logger.warn({ accountId, billingDay: failure.billingDay, code: failure.code }, 'billing closing refused; the account needs attention');
        return recorded;
      });
      if (eventId) {
        const { client, info } = Context.current();
        await dispatchWebhookEvents({ temporal: client, taskQueue: info.taskQueue, orm, logger }, [eventId]);
      }
    },
  };
  return withDomainFailures(activities);
}

export type InvoicingActivities = ReturnType<typeof createInvoicingActivities>;
