import { Context } from '@temporalio/activity';
import type { Clock } from '../src/clock.js';
import { computeInvoice, formatDayOf, usageWindows } from '../src/domain/index.js';
import { evaluateBudgets } from '../src/budgets/tracking.js';
import { budgetsOfOrganizations } from '../src/db/repositories/budgets.js';
import { AuditEvent, type Invoice } from '../src/db/entities/index.js';
import { dayStart, horizonAfter, loadBillingAccount, nextBillingDayOf, nextPeriodBoundary } from '../src/db/repositories/billing.js';
import { invoiceOfBillingDay, persistProposal } from '../src/db/repositories/invoices.js';
import { lockBillingAccount } from '../src/db/repositories/organizations.js';
import { closeUsageThrough } from '../src/db/repositories/subscriptions.js';
import { webhookEventIdByDedupeKey } from '../src/db/repositories/webhook-events.js';
import type { Orm } from '../src/db/orm.js';
import type { Logger } from '../src/logger.js';
import { workflowIds } from '../src/temporal/workflow-ids.js';
import { dispatchWebhookEvents, recordWebhookEvent } from '../src/webhooks/outbox.js';
import type { BillingFailure, ClosedBillingDay, ClosedPeriod } from '../workflows/messages/billing.js';
import { withDomainFailures } from './domain-failures.js';

export interface InvoicingActivityDeps {
  orm: Orm;
  clock: Clock;
  logger: Logger;
}

function closedPeriodOf(invoice: Invoice): ClosedPeriod {
  return { invoiceId: invoice.id, number: invoice.number!, status: invoice.status, amountDue: invoice.amountDue, collectionMethod: invoice.collectionMethod };
}

export function createInvoicingActivities({ orm, clock, logger }: InvoicingActivityDeps) {
  /**
   * An invoice moves charges from a budget's pending to its spent; what it billed beyond the
   * preview may cross a threshold. A failure here is logged: the daily usage processing checks again.
   */
  async function checkBudgets(organizationIds: readonly string[]): Promise<void> {
    try {
      const em = orm.em.fork();
      const budgets = await budgetsOfOrganizations(em, organizationIds);
      if (budgets.length === 0) return;
      const now = clock.now();
      const eventIds = await em.transactional((tx) => evaluateBudgets(tx, budgets, formatDayOf(now.getTime()), now));
      const { client, info } = Context.current();
      await dispatchWebhookEvents({ temporal: client, taskQueue: info.taskQueue, orm, logger }, eventIds);
    } catch (error) {
      logger.warn({ err: error, organizationIds }, 'budgets not checked after the invoice; the daily usage processing checks them');
    }
  }

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
      let organizationIds: string[] = [];
      const { invoice, subscriptions } = await orm.em.fork().transactional(async (em) => {
        // One closing per account at a time: a concurrent run waits here, then finds the invoice.
        await lockBillingAccount(em, input.accountId);
        const existing = await invoiceOfBillingDay(em, input.accountId, input.billingDay);
        if (existing) return { invoice: closedPeriodOf(existing), subscriptions: null };
        const loaded = await loadBillingAccount(em, input.accountId, input.billingDay);
        if (!loaded) throw new Error(`billing account ${input.accountId} not found`);
        const proposal = computeInvoice(loaded.input);
        for (const subscription of loaded.input.subscriptions) {
          const closedThrough = usageWindows(subscription, input.billingDay).at(-1)?.periodEnd;
          if (closedThrough) await closeUsageThrough(em, subscription.id, dayStart(closedThrough));
        }
        if (proposal.lines.length === 0) return { invoice: null, subscriptions: loaded.input.subscriptions };
        organizationIds = loaded.input.organizations.map((organization) => organization.id);
        const { invoice, eventId } = await persistProposal(em, { account: loaded.organization, billingDay: input.billingDay, proposal, now: clock.now() });
        eventIds.push(eventId);
        logger.info({ accountId: input.accountId, invoiceId: invoice.id, number: invoice.number, amountDue: invoice.amountDue }, 'invoice finalized');
        return { invoice: closedPeriodOf(invoice), subscriptions: loaded.input.subscriptions };
      });
      if (eventIds.length) {
        const { client, info } = Context.current();
        await dispatchWebhookEvents({ temporal: client, taskQueue: info.taskQueue, orm, logger }, eventIds);
      }
      if (organizationIds.length) await checkBudgets(organizationIds);
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
        await lockBillingAccount(em, accountId);
        if ((await webhookEventIdByDedupeKey(em, dedupeKey)) !== undefined) return null;
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
