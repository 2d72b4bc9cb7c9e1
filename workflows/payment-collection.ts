import { ActivityFailure, ApplicationFailure, condition, getExternalWorkflowHandle, patched, proxyActivities, proxyLocalActivities, setHandler, type ExternalWorkflowHandle } from '@temporalio/workflow';
import type { CollectionActivities } from '../activities/collection.js';
import type { ChargeResult, PaymentActivities } from '../activities/payments.js';
import { DomainError, MS_PER_DAY, paymentReminders, resolveDunningPolicy, type DunningPolicy } from '../src/domain/index.js';
import {
  chargeRefundedSignal,
  type CollectionInvoice,
  disputeChangedSignal,
  disputeOpenedSignal,
  invoiceVoidedSignal,
  type PaymentCollectionInput,
  type PaymentCollectionState,
  paymentFailedSignal,
  paymentRecordedSignal,
  paymentStateQuery,
  paymentSucceededSignal,
} from './messages/payment.js';
import { PaymentCollection, type Decline } from './payment-collection-state.js';
import { cancelForNonPaymentSignal, pastDueSignal, paymentRecoveredSignal } from './messages/subscription.js';

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
 * Since this patch collection pauses while the invoice has an active dispute (read with the
 * invoice; a `disputeOpened` or `disputeChanged` signal asks for the read): no charge attempt, no
 * reminder, no past-due notice, no write-off. The invoice is read again before each reminder, and
 * every day of a pause, so a lost signal delays nothing for long. When the dispute ends the
 * remaining schedule resumes, moved on by the time it was paused.
 */
const pausesForDisputes = 'collection-pauses-for-disputes';

/** A paused collection reads the invoice this often, whether or not a signal says the dispute ended. */
const pausedRereadMs = MS_PER_DAY;

/**
 * `payment:<invoiceId>`: collects one finalized invoice. `charge_automatically` charges the
 * organization's default payment method off-session, retries soft declines on the dunning
 * schedule, and writes the invoice off after the last failure (or a hard decline), canceling the
 * account's subscriptions; `send_invoice` waits for a recorded payment until the due date, with
 * reminders before and after it. The account's subscriptions are told when the invoice becomes
 * past due and when it is recovered. Stripe webhooks arrive as signals in any order and any
 * number of times: each event counts once, and each PaymentIntent is recorded once.
 *
 * This function is the wiring: signals, timers and activities around a `PaymentCollection`
 * (workflows/payment-collection-state.ts), which holds the state and makes the decisions.
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
  const disputesPause = patched(pausesForDisputes);
  const collection = new PaymentCollection(invoiceId, policy);
  const { state } = collection;
  const nowIso = () => new Date(Date.now()).toISOString();

  setHandler(paymentStateQuery, () => state);
  setHandler(paymentSucceededSignal, (event) => collection.paymentSucceeded(event));
  setHandler(paymentFailedSignal, (event) => collection.paymentFailed(event));
  setHandler(chargeRefundedSignal, (event) => collection.chargeRefunded(event));
  setHandler(disputeOpenedSignal, (event) => {
    collection.disputeOpened(event);
    if (disputesPause) collection.invoiceMayHaveChanged();
  });
  setHandler(disputeChangedSignal, () => collection.invoiceMayHaveChanged());
  setHandler(paymentRecordedSignal, () => collection.invoiceMayHaveChanged());
  setHandler(invoiceVoidedSignal, () => collection.invoiceMayHaveChanged());

  const needsAttention = () => collection.needsAttention();
  const isOpen = () => collection.isOpen();
  const disputed = () => disputesPause && collection.isDisputed();

  /** Records the Stripe payments reported so far and reads the invoice again if the API changed it. */
  async function catchUp(): Promise<void> {
    for (let next = collection.nextUnrecordedPayment(); next !== undefined; next = collection.nextUnrecordedPayment()) {
      const { paymentIntentId, receipt } = next;
      if (inWorkflowTask) collection.invoiceReadUnderLock();
      const outcome = await recordStripePayment({ invoiceId, paymentIntentId, ...receipt });
      collection.paymentRecorded(paymentIntentId, receipt, outcome.recorded, outcome.invoice);
    }
    if (collection.takeInvoiceReadRequest()) collection.take(await loadInvoiceForCollection(invoiceId));
  }

  /** Reads the invoice again whether or not the API's signal arrived (a lost signal must not cost a charge or a past-due notice). */
  async function stillOpen(): Promise<boolean> {
    collection.invoiceMayHaveChanged();
    await catchUp();
    return isOpen();
  }

  /** While the invoice is disputed, takes no step (payments are still recorded); returns how long it held. */
  async function holdWhileDisputed(stop: () => boolean): Promise<number> {
    if (!disputed() || stop()) return 0;
    const sinceMs = Date.now();
    const phase = collection.pause(sinceMs);
    while (disputed() && !stop()) {
      if (!(await condition(() => needsAttention() || stop(), pausedRereadMs))) collection.invoiceMayHaveChanged();
      await catchUp();
    }
    const heldMs = Date.now() - sinceMs;
    collection.resume(phase, heldMs);
    return heldMs;
  }

  /**
   * Waits until `untilMs` (workflow time), keeping up with payments and changes meanwhile; returns
   * early once `stop()` holds. Time the invoice spends disputed meanwhile moves the end on by as much.
   */
  async function waitUntil(untilMs: number, stop: () => boolean): Promise<void> {
    let endMs = untilMs;
    for (;;) {
      await catchUp();
      if (stop()) return;
      if (disputed()) {
        endMs += await holdWhileDisputed(stop);
        continue;
      }
      if (Date.now() >= endMs) return;
      await condition(() => needsAttention() || stop(), endMs - Date.now());
    }
  }

  /**
   * Reaches a step of the schedule set at the start (a reminder, the due date), moved on by the
   * time collection was paused; with disputes pausing, the invoice is read again first. False when
   * it is no longer open.
   */
  async function reachStep(atMs: number): Promise<boolean> {
    const stop = () => !isOpen();
    for (;;) {
      await waitUntil(atMs + state.pausedMs, stop);
      // Without the patch the caller reads the invoice (or not) as it always did.
      if (!disputesPause) return true;
      if (!(await stillOpen())) return false;
      if (!disputed()) return true;
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

  /** Not for a disputed invoice: its account is not past due for what is in dispute. */
  async function markPastDue(): Promise<void> {
    if (disputesPause) {
      // Read now: a dispute opened while the charge was in flight may not have signaled yet.
      collection.invoiceMayHaveChanged();
      await catchUp();
      if (disputed()) return;
    }
    const since = collection.markPastDue(nowIso());
    if (since !== null) await signalSubscriptions((handle) => handle.signal(pastDueSignal, { since }));
  }

  async function charge(attempt: number, organizationId: string): Promise<ChargeResult> {
    try {
      const chargeInvoicePayment = inWorkflowTask ? chargeInWorkflowTask : chargeThroughQueue;
      return await chargeInvoicePayment({ invoiceId, attempt, amount: state.amountOwed, currency: collection.currency, organizationId });
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
      if (!(justRead ? isOpen() : await stillOpen())) return;
      while (disputed()) {
        await holdWhileDisputed(() => !isOpen());
        if (!isOpen()) return;
      }
      if (state.amountOwed <= 0) return;
      state.phase = 'charging';
      const startedMs = Date.now();
      const result = await charge(attempt, invoice.organizationId);
      const record = collection.attemptAnswered(attempt, startedMs, result, nowIso());

      let decline: Decline;
      if (result.outcome === 'succeeded') {
        continue;
      } else if (result.outcome === 'declined') {
        decline = { code: result.code, hard: result.hard };
      } else {
        // Stripe finishes it later and says so by webhook; without an answer by the next dunning step, the attempt has failed.
        const pending = result.paymentIntentId;
        state.phase = 'awaiting_confirmation';
        const settledByWebhook = () => !isOpen() || collection.hasSucceeded(pending) || collection.failureOf(pending) !== undefined;
        await waitUntil(collection.confirmationDeadlineMs(attempt, startedMs), settledByWebhook);
        if (collection.hasSucceeded(pending)) {
          record.outcome = 'succeeded';
          continue;
        }
        if (!isOpen()) return;
        decline = collection.confirmationMissed(record, pending);
      }

      const nextAttemptMs = collection.attemptFailed(attempt, startedMs, decline);
      await recordPaymentFailure({ invoiceId, attempt, paymentIntentId: record.paymentIntentId, declineCode: decline.code, hard: decline.hard, nextAttemptAt: state.nextAttemptAt });
      await markPastDue();
      if (nextAttemptMs === null) {
        // The write-off is the last dunning step: it waits for the dispute's end, then writes off what is still owed.
        while (disputesPause) {
          collection.invoiceMayHaveChanged();
          await waitUntil(Date.now(), () => !isOpen());
          if (!isOpen() || state.amountOwed <= 0) return;
          await markPastDue();
          if (!disputed()) break;
        }
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
    collection.take(await markInvoiceUncollectible(invoiceId));
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
    const pastDueOnDueDate = async () => {
      if (!(await reachStep(dueAtMs))) return false;
      if (!disputesPause && !(await stillOpen())) return false;
      await markPastDue();
      return true;
    };
    for (const reminder of paymentReminders(policy, dueAtMs, Date.now())) {
      if (reminder.atMs >= dueAtMs && !(await pastDueOnDueDate())) return;
      if (!(await reachStep(reminder.atMs)) || !isOpen()) return;
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
    if (collection.recover(nowIso())) await signalSubscriptions((handle) => handle.signal(paymentRecoveredSignal));
  }

  const invoice = await loadInvoiceForCollection(invoiceId);
  collection.started(invoice);
  if (isOpen()) {
    if (invoice.collectionMethod === 'charge_automatically') await chargeAutomatically(invoice);
    else await awaitPayment(invoice);
  }
  await catchUp();
  await recoverIfSettled();

  const listensUntilMs = collection.settle(Date.now());
  while (Date.now() < listensUntilMs) {
    if (!(await condition(needsAttention, listensUntilMs - Date.now()))) break;
    await catchUp();
    await recoverIfSettled();
  }
  return state;
}
