import { ActivityFailure, ApplicationFailure, condition, getExternalWorkflowHandle, patched, proxyActivities, proxyLocalActivities, setHandler, type ExternalWorkflowHandle } from '@temporalio/workflow';
import type { CollectionActivities, CollectionInvoice } from '../activities/collection.js';
import type { ChargeResult, PaymentActivities } from '../activities/payments.js';
import { DomainError, MS_PER_DAY, paymentReminders, resolveDunningPolicy, retryDelayMs, type DunningPolicy } from '../src/domain/index.js';
import {
  cancelForNonPaymentSignal,
  chargeRefundedSignal,
  disputeOpenedSignal,
  invoiceVoidedSignal,
  pastDueSignal,
  paymentFailedSignal,
  paymentRecordedSignal,
  paymentRecoveredSignal,
  paymentStateQuery,
  paymentSucceededSignal,
  type CollectionAttempt,
  type PaymentCollectionInput,
  type PaymentCollectionState,
} from './messages.js';

const retry = { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute' } as const;

// The database steps are short transactions: local activities, recorded in the workflow's own task.
// Only the Stripe call (slow, retried for about an hour) goes through the server's activity queue.
const { loadInvoiceForCollection } = proxyLocalActivities<CollectionActivities>({
  startToCloseTimeout: '30 seconds',
  // Started right after the invoice's transaction: retries bridge a commit not visible yet, and stop if it never appears.
  retry: { ...retry, maximumAttempts: 15 },
});
const { recordStripePayment, recordPaymentFailure, markInvoiceUncollectible, sendPaymentReminder, accountSubscriptionIds } = proxyLocalActivities<CollectionActivities>({
  startToCloseTimeout: '30 seconds',
  retry,
});
const chargeOptions = {
  startToCloseTimeout: '2 minutes',
  // Each retry sends the same idempotency key. When Stripe stays unreachable through these (about an
  // hour) the attempt counts as failed and dunning goes on; if Stripe did charge, its webhook settles the invoice.
  retry: { ...retry, maximumInterval: '5 minutes', maximumAttempts: 20 },
} as const;
/** Histories recorded before `collectionInWorkflowTask` charged through the activity queue. */
const { chargeInvoicePayment: chargeThroughQueue } = proxyActivities<PaymentActivities>(chargeOptions);
const { chargeInvoicePayment: chargeInWorkflowTask } = proxyLocalActivities<PaymentActivities>(chargeOptions);

/**
 * Since this patch a collection charges in its own workflow task (a local activity: retried
 * with backoff timers like any activity, one round trip through the server fewer), charges its
 * first attempt on the invoice it has just read, and does not read an invoice again right after
 * recording a payment on it (that step returns the invoice as it left it).
 */
const collectionInWorkflowTask = 'collection-in-workflow-task';

/**
 * After the invoice is settled the workflow keeps listening this long (Stripe's window for
 * disputes), so a late webhook — a refund, a dispute, a PaymentIntent that succeeded after its
 * attempt timed out — still finds it. Then it completes.
 */
const lateEventWindowDays = 120;

/** When Stripe asks for action off-session or keeps processing, and the policy has no retry delay to wait for. */
const defaultConfirmationWaitMs = 3 * MS_PER_DAY;

interface Decline {
  code: string | null;
  hard: boolean;
}

/**
 * `payment:<invoiceId>`: collects one finalized invoice. `charge_automatically` charges the
 * organization's default payment method off-session, retries soft declines on the dunning
 * schedule, and writes the invoice off after the last failure (or a hard decline), canceling the
 * account's subscriptions; `send_invoice` waits for a recorded payment until the due date, with
 * reminders before and after it. The account's subscriptions are told when the invoice becomes
 * past due and when it is recovered. Stripe webhooks arrive as signals in any order and any
 * number of times: each event counts once, and each PaymentIntent is recorded once.
 */
export async function paymentCollection(input: PaymentCollectionInput): Promise<PaymentCollectionState> {
  let policy: Required<DunningPolicy>;
  try {
    policy = resolveDunningPolicy(input.dunning);
  } catch (error) {
    if (error instanceof DomainError) throw ApplicationFailure.nonRetryable(error.message, 'InvalidDunningPolicy', error.details);
    throw error;
  }
  const { invoiceId } = input;
  const inWorkflowTask = patched(collectionInWorkflowTask);
  const state: PaymentCollectionState = {
    invoiceId,
    organizationId: null,
    collectionMethod: null,
    invoiceStatus: null,
    phase: 'starting',
    amountOwed: 0,
    attempts: [],
    nextAttemptAt: null,
    dueAt: null,
    remindersSent: [],
    pastDueSince: null,
    recoveredAt: null,
    subscriptionsCanceledAt: null,
    stripePayments: [],
    refundedByPaymentIntent: {},
    disputes: [],
    stripeEventIds: [],
    listensUntil: null,
  };
  let currency = '';

  /** Successful PaymentIntents as reported (by a charge's answer or a webhook), and those already recorded. */
  const succeeded = new Map<string, { amount: number; currency: string; receivedAt: string }>();
  const recorded = new Set<string>();
  const failed = new Map<string, Decline>();
  /** The API committed a payment or a void: read the invoice again. */
  let invoiceChanged = false;

  const nowIso = () => new Date(Date.now()).toISOString();
  const firstDelivery = (stripeEventId: string) => {
    if (state.stripeEventIds.includes(stripeEventId)) return false;
    state.stripeEventIds.push(stripeEventId);
    return true;
  };

  setHandler(paymentStateQuery, () => state);
  setHandler(paymentSucceededSignal, (event) => {
    if (!firstDelivery(event.stripeEventId) || succeeded.has(event.paymentIntentId)) return;
    succeeded.set(event.paymentIntentId, { amount: event.amount, currency: event.currency, receivedAt: event.occurredAt });
  });
  setHandler(paymentFailedSignal, (event) => {
    if (!firstDelivery(event.stripeEventId) || failed.has(event.paymentIntentId)) return;
    failed.set(event.paymentIntentId, { code: event.failureCode, hard: event.hard });
  });
  setHandler(chargeRefundedSignal, (event) => {
    if (!firstDelivery(event.stripeEventId)) return;
    // Stripe reports the running total: the largest report is the latest, whatever the order.
    state.refundedByPaymentIntent[event.paymentIntentId] = Math.max(state.refundedByPaymentIntent[event.paymentIntentId] ?? 0, event.amountRefunded);
  });
  setHandler(disputeOpenedSignal, (event) => {
    if (!firstDelivery(event.stripeEventId) || state.disputes.some((dispute) => dispute.disputeId === event.disputeId)) return;
    state.disputes.push(event);
  });
  setHandler(paymentRecordedSignal, () => void (invoiceChanged = true));
  setHandler(invoiceVoidedSignal, () => void (invoiceChanged = true));

  const unrecordedPayments = () => [...succeeded.keys()].some((paymentIntentId) => !recorded.has(paymentIntentId));
  const needsAttention = () => invoiceChanged || unrecordedPayments();
  /** A success outranks a failure of the same PaymentIntent, whichever was reported first. */
  const failureOf = (paymentIntentId: string) => (succeeded.has(paymentIntentId) ? undefined : failed.get(paymentIntentId));
  const isOpen = () => state.invoiceStatus === 'open';

  function take(invoice: CollectionInvoice): void {
    state.invoiceStatus = invoice.status;
    state.amountOwed = invoice.amountOwed;
  }

  /** Records the Stripe payments reported so far and reads the invoice again if the API changed it. */
  async function catchUp(): Promise<void> {
    for (const [paymentIntentId, receipt] of succeeded) {
      if (recorded.has(paymentIntentId)) continue;
      // The step reads the invoice under its lock: changes before it are seen; a signal during it asks again.
      if (inWorkflowTask) invoiceChanged = false;
      const outcome = await recordStripePayment({ invoiceId, paymentIntentId, ...receipt });
      recorded.add(paymentIntentId);
      state.stripePayments.push({ paymentIntentId, amount: receipt.amount, applied: outcome.recorded });
      take(outcome.invoice);
    }
    if (invoiceChanged) {
      invoiceChanged = false;
      take(await loadInvoiceForCollection(invoiceId));
    }
  }

  /** Reads the invoice again whether or not the API's signal arrived (a lost signal must not cost a charge or a past-due notice). */
  async function stillOpen(): Promise<boolean> {
    invoiceChanged = true;
    await catchUp();
    return isOpen();
  }

  /** Waits until `untilMs` (workflow time), keeping up with payments and changes meanwhile; returns early once `stop()` holds. */
  async function waitUntil(untilMs: number, stop: () => boolean): Promise<void> {
    for (;;) {
      await catchUp();
      if (stop() || Date.now() >= untilMs) return;
      await condition(() => needsAttention() || stop(), untilMs - Date.now());
    }
  }

  async function signalSubscriptions(send: (handle: ExternalWorkflowHandle) => Promise<void>): Promise<void> {
    for (const subscriptionId of await accountSubscriptionIds(invoiceId)) {
      try {
        await send(getExternalWorkflowHandle(`subscription:${subscriptionId}`));
      } catch {
        // Its workflow has ended (the subscription is canceled): nothing to tell it.
      }
    }
  }

  async function markPastDue(): Promise<void> {
    if (state.pastDueSince !== null) return;
    const since = nowIso();
    state.pastDueSince = since;
    await signalSubscriptions((handle) => handle.signal(pastDueSignal, { since }));
  }

  async function charge(attempt: number, organizationId: string): Promise<ChargeResult> {
    try {
      const chargeInvoicePayment = inWorkflowTask ? chargeInWorkflowTask : chargeThroughQueue;
      return await chargeInvoicePayment({ invoiceId, attempt, amount: state.amountOwed, currency, organizationId });
    } catch (error) {
      // Stripe refused the request for good, or stayed unreachable: a failed attempt like a soft decline.
      if (!(error instanceof ActivityFailure)) throw error;
      const code = error.cause instanceof ApplicationFailure ? (error.cause.type ?? 'charge_error') : 'charge_error';
      return { outcome: 'declined', hard: false, code, message: error.cause?.message ?? error.message };
    }
  }

  // The organization's one Stripe customer is made when its payment method is set up; without
  // one the charge fails like a soft decline (`no_payment_method`) and dunning gives time to add it.
  async function chargeAutomatically(invoice: CollectionInvoice): Promise<void> {
    const firstAttempt = state.attempts.length + 1;
    for (let attempt = firstAttempt; ; attempt += 1) {
      const justRead = inWorkflowTask && attempt === firstAttempt && !needsAttention();
      if (!(justRead ? isOpen() : await stillOpen()) || state.amountOwed <= 0) return;
      state.phase = 'charging';
      const startedMs = Date.now();
      const result = await charge(attempt, invoice.organizationId);
      const record: CollectionAttempt = {
        attempt,
        startedAt: new Date(startedMs).toISOString(),
        paymentIntentId: result.paymentIntentId ?? null,
        outcome: result.outcome,
        declineCode: result.outcome === 'declined' ? result.code : null,
        hard: result.outcome === 'declined' && result.hard,
      };
      state.attempts.push(record);
      const delay = retryDelayMs(policy, attempt);

      let decline: Decline;
      if (result.outcome === 'succeeded') {
        if (!succeeded.has(result.paymentIntentId)) succeeded.set(result.paymentIntentId, { amount: state.amountOwed, currency, receivedAt: nowIso() });
        continue;
      } else if (result.outcome === 'declined') {
        decline = { code: result.code, hard: result.hard };
      } else {
        // Stripe finishes it later and says so by webhook; without an answer by the next dunning step, the attempt has failed.
        const pending = result.paymentIntentId;
        state.phase = 'awaiting_confirmation';
        const lastDelayDays = policy.retryDelaysDays.at(-1);
        const confirmationWaitMs = delay ?? (lastDelayDays === undefined ? defaultConfirmationWaitMs : lastDelayDays * MS_PER_DAY);
        await waitUntil(startedMs + confirmationWaitMs, () => !isOpen() || succeeded.has(pending) || failureOf(pending) !== undefined);
        if (succeeded.has(pending)) {
          record.outcome = 'succeeded';
          continue;
        }
        if (!isOpen()) return;
        const reported = failureOf(pending);
        decline = reported ?? { code: 'confirmation_timeout', hard: false };
        record.outcome = reported ? 'declined' : 'timed_out';
        record.declineCode = decline.code;
        record.hard = decline.hard;
      }

      const nextAttemptMs = decline.hard || delay === null ? null : startedMs + delay;
      state.nextAttemptAt = nextAttemptMs === null ? null : new Date(nextAttemptMs).toISOString();
      await recordPaymentFailure({ invoiceId, attempt, paymentIntentId: record.paymentIntentId, declineCode: decline.code, hard: decline.hard, nextAttemptAt: state.nextAttemptAt });
      await markPastDue();
      if (nextAttemptMs === null) {
        await writeOff();
        return;
      }
      state.phase = 'awaiting_retry';
      await waitUntil(nextAttemptMs, () => !isOpen());
      state.nextAttemptAt = null;
    }
  }

  /** The last attempt failed: write the invoice off, then cancel the account's subscriptions (unless it is paid meanwhile). */
  async function writeOff(): Promise<void> {
    take(await markInvoiceUncollectible(invoiceId));
    if (state.invoiceStatus !== 'uncollectible') return;
    state.phase = 'awaiting_cancellation';
    await waitUntil(Date.now() + policy.cancelSubscriptionsAfterDays * MS_PER_DAY, () => state.invoiceStatus !== 'uncollectible');
    if (state.invoiceStatus !== 'uncollectible') return;
    await signalSubscriptions((handle) => handle.signal(cancelForNonPaymentSignal, { invoiceId }));
    state.subscriptionsCanceledAt = nowIso();
  }

  async function awaitPayment(invoice: CollectionInvoice): Promise<void> {
    state.phase = 'awaiting_payment';
    const dueAtMs = invoice.dueAt === null ? Date.now() : Date.parse(invoice.dueAt);
    state.dueAt = new Date(dueAtMs).toISOString();
    const stop = () => !isOpen();
    const pastDueOnDueDate = async () => {
      await waitUntil(dueAtMs, stop);
      if (!(await stillOpen())) return false;
      await markPastDue();
      return true;
    };
    for (const reminder of paymentReminders(policy, dueAtMs, Date.now())) {
      if (reminder.atMs >= dueAtMs && !(await pastDueOnDueDate())) return;
      await waitUntil(reminder.atMs, stop);
      if (!isOpen()) return;
      if (await sendPaymentReminder({ invoiceId, key: reminder.key, relation: reminder.relation, days: reminder.days })) state.remindersSent.push(reminder.key);
      else if (!(await stillOpen())) return;
    }
    if (!(await pastDueOnDueDate())) return;
    // Past due after the last reminder: it stays open until a payment is recorded or it is voided.
    while (isOpen()) {
      await condition(needsAttention);
      await catchUp();
    }
  }

  /** A paid or voided invoice no longer holds the account past due. */
  async function recoverIfSettled(): Promise<void> {
    if (state.pastDueSince === null || state.recoveredAt !== null || (state.invoiceStatus !== 'paid' && state.invoiceStatus !== 'void')) return;
    state.recoveredAt = nowIso();
    await signalSubscriptions((handle) => handle.signal(paymentRecoveredSignal));
  }

  const invoice = await loadInvoiceForCollection(invoiceId);
  take(invoice);
  state.organizationId = invoice.organizationId;
  state.collectionMethod = invoice.collectionMethod;
  currency = invoice.currency;
  if (isOpen()) {
    if (invoice.collectionMethod === 'charge_automatically') await chargeAutomatically(invoice);
    else await awaitPayment(invoice);
  }
  await catchUp();
  await recoverIfSettled();

  state.phase = 'settled';
  const listensUntilMs = Date.now() + lateEventWindowDays * MS_PER_DAY;
  state.listensUntil = new Date(listensUntilMs).toISOString();
  while (Date.now() < listensUntilMs) {
    if (!(await condition(needsAttention, listensUntilMs - Date.now()))) break;
    await catchUp();
    await recoverIfSettled();
  }
  return state;
}
