import { allHandlersFinished, condition, continueAsNew, patched, proxyLocalActivities, setHandler, workflowInfo } from '@temporalio/workflow';
import type { BillingActivities } from '../activities/billing.js';
import type { CollectionActivities } from '../activities/collection.js';
import type { ClosedPeriod, InvoicingActivities } from '../activities/invoicing.js';
import { MS_PER_DAY, formatDay, parseDay } from '../src/domain/index.js';
import { billingStateQuery, nextRunAtQuery, runNowUpdate, type BillingCycleState, type BillingRunResult } from './messages.js';

export interface BillingCycleInput {
  organizationId: string;
  /** Carried across continue-as-new. */
  startedAt?: string;
  lastBilledDay?: string | null;
  /** The next billing day as the closing before continue-as-new answered it: the new run starts from it. */
  nextRunDay?: string | null;
}

// Every step is a short database transaction (or one workflow start): local activities, recorded
// in the workflow's own task instead of a round trip through the server's activity queue each.
const { recordBillingCycleStarted } = proxyLocalActivities<BillingActivities>({
  startToCloseTimeout: '30 seconds',
  // The API starts this workflow just before its transaction commits, so the first attempt
  // may not see the organization yet; retries bridge that gap and stop if it never appears.
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute', maximumAttempts: 15 },
});

const { nextBillingDay, closeBillingDay, closeBillingPeriod, startPaymentCollection } = proxyLocalActivities<InvoicingActivities & CollectionActivities>({
  // A worker killed mid-step loses its workflow task; the next worker runs the step again (each is idempotent).
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute' },
});

/**
 * Since this patch a closing answers the next billing day too (`closeBillingDay`), and the run it
 * continues as starts from that answer instead of asking `nextBillingDay` again. Runs recorded
 * before it closed with `closeBillingPeriod`.
 */
const closingAnswersNextDay = 'closing-answers-next-billing-day';

/** Subscriptions may be added or changed while it waits: it looks at the schedule again at least daily. */
const recheckMs = MS_PER_DAY;
/** Waits without billing before continuing as new, so the history of an idle account stays small. */
const idleChecksPerRun = 30;

const today = () => formatDay(Math.floor(Date.now() / MS_PER_DAY));

/**
 * One per billing account (`billing:<accountId>`). Sleeps until the account's next billing day
 * (or a `runNow` update), closes it — the activity proposes, persists and finalizes the invoice
 * in one transaction, idempotent per (account, day) — starts `payment:<invoiceId>` for what is
 * owed, and continues as new after each closing.
 */
export async function billingCycle(input: BillingCycleInput): Promise<void> {
  const state: BillingCycleState = {
    organizationId: input.organizationId,
    startedAt: input.startedAt ?? workflowInfo().startTime.toISOString(),
    lastBilledDay: input.lastBilledDay ?? null,
    nextRunDay: null,
  };
  let requestedRuns = 0;
  let completedRuns = 0;
  let lastRun: BillingRunResult | undefined;
  setHandler(billingStateQuery, () => state);
  setHandler(nextRunAtQuery, () => (state.nextRunDay === null ? null : new Date(parseDay(state.nextRunDay) * MS_PER_DAY).toISOString()));
  setHandler(runNowUpdate, async () => {
    const ticket = ++requestedRuns;
    await condition(() => completedRuns >= ticket);
    return lastRun!;
  });

  /** The next billing day after `afterDay`, as the last closing answered it. */
  let answered: { afterDay: string; nextRunDay: string | null } | undefined;

  /** Whether on time, late (the worker was down) or asked for: everything due up to today, once. */
  const closeToday = async () => {
    const billingDay = today();
    const runsAnswered = requestedRuns;
    let invoice: ClosedPeriod | null;
    if (patched(closingAnswersNextDay)) {
      const closed = await closeBillingDay({ accountId: input.organizationId, billingDay });
      invoice = closed.invoice;
      answered = { afterDay: billingDay, nextRunDay: closed.nextBillingDay };
    } else invoice = await closeBillingPeriod({ accountId: input.organizationId, billingDay });
    if (invoice && invoice.status === 'open' && invoice.amountDue > 0) await startPaymentCollection(invoice.invoiceId);
    state.lastBilledDay = state.lastBilledDay !== null && state.lastBilledDay > billingDay ? state.lastBilledDay : billingDay;
    lastRun = { billingDay, invoice };
    completedRuns = runsAnswered;
  };

  if (input.startedAt === undefined) await recordBillingCycleStarted(input.organizationId);

  for (let check = 0; check < idleChecksPerRun; check += 1) {
    // A fee added in the instant since that closing waits for the next check (at most a day).
    state.nextRunDay = check === 0 && input.nextRunDay !== undefined ? input.nextRunDay : await nextBillingDay(input.organizationId, state.lastBilledDay, today());
    const dueAt = state.nextRunDay === null ? Number.POSITIVE_INFINITY : parseDay(state.nextRunDay) * MS_PER_DAY;
    const runRequested = () => requestedRuns > completedRuns;
    if (!runRequested() && Date.now() < dueAt) await condition(runRequested, Math.min(dueAt - Date.now(), recheckMs));
    if (!runRequested() && Date.now() < dueAt) continue;

    await closeToday();
    break;
  }
  // A runNow that arrived while closing (or after) is answered by closing again: the same day finds the same invoice.
  while (!allHandlersFinished()) {
    if (requestedRuns > completedRuns) await closeToday();
    else await condition(() => allHandlersFinished() || requestedRuns > completedRuns);
  }
  await continueAsNew<typeof billingCycle>({
    organizationId: input.organizationId,
    startedAt: state.startedAt,
    lastBilledDay: state.lastBilledDay,
    ...(answered !== undefined && answered.afterDay === state.lastBilledDay ? { nextRunDay: answered.nextRunDay } : {}),
  });
}
