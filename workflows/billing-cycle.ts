import {
  ActivityFailure,
  ApplicationFailure,
  allHandlersFinished,
  condition,
  continueAsNew,
  patched,
  proxyLocalActivities,
  setHandler,
  sleep,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { BillingActivities } from '../activities/billing.js';
import type { CollectionActivities } from '../activities/collection.js';
import type { InvoicingActivities } from '../activities/invoicing.js';
import { MS_PER_DAY, dayOf, formatDayOf, instantOfDay, midnightOf, parseDay } from '../src/domain/index.js';
import {
  type BillingCycleInput,
  type BillingCycleState,
  type BillingFailure,
  type BillingRunResult,
  type ClosedPeriod,
  billingStateQuery,
  billingStatusSearchAttribute,
  billingUnavailableFailureType,
  nextRunAtQuery,
  runNowUpdate,
} from './messages/billing.js';
import { type DomainFailureDetails, domainFailureType } from './messages/failures.js';

// Every step is a short database transaction (or one workflow start): local activities, recorded
// in the workflow's own task instead of a round trip through the server's activity queue each.
const { recordBillingCycleStarted } = proxyLocalActivities<BillingActivities>({
  startToCloseTimeout: '30 seconds',
  // The API starts this workflow just before its transaction commits, so the first attempt
  // may not see the organization yet; retries bridge that gap and stop if it never appears.
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute', maximumAttempts: 15 },
});

const { nextBillingDay, closeBillingDay, closeBillingPeriod, startPaymentCollection, recordBillingFailure } = proxyLocalActivities<
  InvoicingActivities & CollectionActivities
>({
  // A worker killed mid-step loses its workflow task; the next worker runs the step again (each is idempotent).
  startToCloseTimeout: '30 seconds',
  // A domain refusal fails at once (activities/domain-failures.ts: the same data fails the same way);
  // anything else is retried for about ten minutes, then the cycle waits and tries again (`unavailableRetryMs`).
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute', maximumAttempts: 15 },
});

/**
 * Since this patch a closing answers the next billing day too (`closeBillingDay`), and the run it
 * continues as starts from that answer instead of asking `nextBillingDay` again. Runs recorded
 * before it closed with `closeBillingPeriod`.
 */
const closingAnswersNextDay = 'closing-answers-next-billing-day';

/**
 * Since this patch a failed step no longer fails (or, before its retries were bounded, wedges)
 * the cycle: a closing the domain refuses puts the account in `needs_attention` (search attribute,
 * `billing.failed` event, audit row) until a later closing succeeds, and is tried again on the next
 * day or when a `runNow` asks; any other failure is tried again an hour later.
 */
const needsAttention = 'billing-needs-attention';

/** After a step failed through its retries for another reason than the domain (a database outage): wait this long. */
const unavailableRetryMs = 60 * 60 * 1000;

/** Subscriptions may be added or changed while it waits: it looks at the schedule again at least daily. */
const recheckMs = MS_PER_DAY;
/** Waits without billing before continuing as new, so the history of an idle account stays small. */
const idleChecksPerRun = 30;

const today = () => formatDayOf(Date.now());
const nextDayStart = () => midnightOf(dayOf(Date.now()) + 1);

/** A step that failed: a local activity's failure arrives as an `ActivityFailure` or as the activity's own `ApplicationFailure`. */
type StepFailure = ActivityFailure | ApplicationFailure;
const isStepFailure = (error: unknown): error is StepFailure => error instanceof ActivityFailure || error instanceof ApplicationFailure;

/** The domain's refusal behind a failed step; null for any other failure (its retries ran out). */
function domainRefusalOf(error: StepFailure): DomainFailureDetails | null {
  const cause = error instanceof ActivityFailure ? error.cause : error;
  if (!(cause instanceof ApplicationFailure) || cause.type !== domainFailureType) return null;
  const [details] = (cause.details ?? []) as [DomainFailureDetails | undefined];
  return details ?? { code: 'domain_error', message: cause.message };
}

/**
 * One per billing account (`billing:<accountId>`). Sleeps until the account's next billing day
 * (or a `runNow` update), closes it — the activity proposes, persists and finalizes the invoice
 * in one transaction, idempotent per (account, day) — starts `payment:<invoiceId>` for what is
 * owed, and continues as new after each closing. A closing that cannot be computed never loops:
 * the account needs attention, and the cycle waits for the next day or a `runNow`.
 */
export async function billingCycle(input: BillingCycleInput): Promise<void> {
  const state: BillingCycleState = {
    organizationId: input.organizationId,
    startedAt: input.startedAt ?? workflowInfo().startTime.toISOString(),
    lastBilledDay: input.lastBilledDay ?? null,
    nextRunDay: null,
    status: input.lastError ? 'needs_attention' : 'ok',
    lastError: input.lastError ?? null,
  };
  let requestedRuns = 0;
  let completedRuns = 0;
  /** What the last closing answered: its run, or the failure the `runNow` updates waiting for it fail with. */
  let lastOutcome: { run: BillingRunResult } | { failure: ApplicationFailure } | undefined;
  setHandler(billingStateQuery, () => state);
  setHandler(nextRunAtQuery, () => (state.nextRunDay === null ? null : instantOfDay(state.nextRunDay)));
  setHandler(runNowUpdate, async () => {
    const ticket = ++requestedRuns;
    await condition(() => completedRuns >= ticket);
    const outcome = lastOutcome!;
    if ('failure' in outcome) throw outcome.failure;
    return outcome.run;
  });

  /** Not before this instant (epoch ms) does the cycle close again on its own after a failure; 0: no failure waits. */
  let retryAt = input.lastError?.billingDay === today() ? nextDayStart() : 0;

  /** The next billing day after `afterDay`, as the last closing answered it. */
  let answered: { afterDay: string; nextRunDay: string | null } | undefined;

  /** A finalized invoice's collection must start: while it cannot (through the retries), it is tried again later. */
  const startCollection = async (invoiceId: string) => {
    for (;;) {
      try {
        return await startPaymentCollection(invoiceId);
      } catch (error) {
        if (!isStepFailure(error) || !patched(needsAttention)) throw error;
        await sleep(unavailableRetryMs);
      }
    }
  };

  /**
   * A closing that failed: the domain's refusal puts the account in `needs_attention` (reported
   * once per day and code) and waits for the next day; any other failure waits an hour. Answers
   * the failure the `runNow` updates waiting for this closing fail with.
   */
  const closingFailed = async (billingDay: string, error: StepFailure): Promise<ApplicationFailure> => {
    const refusal = domainRefusalOf(error);
    if (refusal === null) {
      retryAt = Date.now() + unavailableRetryMs;
      return ApplicationFailure.create({
        type: billingUnavailableFailureType,
        message: `billing day ${billingDay} could not be closed (${error.message}); the cycle tries again within the hour`,
        nonRetryable: true,
      });
    }
    const previous = state.lastError;
    const repeated = previous !== null && previous.billingDay === billingDay && previous.code === refusal.code;
    const failure: BillingFailure = { ...refusal, billingDay, failedAt: repeated ? previous.failedAt : new Date().toISOString() };
    if (state.status !== 'needs_attention') upsertSearchAttributes([{ key: billingStatusSearchAttribute, value: 'needs_attention' }]);
    state.status = 'needs_attention';
    state.lastError = failure;
    try {
      await recordBillingFailure({ accountId: input.organizationId, failure });
      retryAt = nextDayStart();
    } catch (recordError) {
      if (!isStepFailure(recordError)) throw recordError;
      // Not reported: the next attempt, within the hour, reports it.
      retryAt = Date.now() + unavailableRetryMs;
    }
    return ApplicationFailure.create({ type: domainFailureType, message: `billing day ${billingDay} cannot be closed: ${failure.message}`, nonRetryable: true, details: [failure] });
  };

  /** Whether on time, late (the worker was down) or asked for: everything due up to today, once. Answers whether it closed. */
  const closeToday = async (): Promise<boolean> => {
    const billingDay = today();
    const runsAnswered = requestedRuns;
    let closedDay = false;
    try {
      let invoice: ClosedPeriod | null;
      if (patched(closingAnswersNextDay)) {
        const closed = await closeBillingDay({ accountId: input.organizationId, billingDay });
        invoice = closed.invoice;
        answered = { afterDay: billingDay, nextRunDay: closed.nextBillingDay };
      } else invoice = await closeBillingPeriod({ accountId: input.organizationId, billingDay });
      if (invoice && invoice.status === 'open' && invoice.amountDue > 0) await startCollection(invoice.invoiceId);
      state.lastBilledDay = state.lastBilledDay !== null && state.lastBilledDay > billingDay ? state.lastBilledDay : billingDay;
      retryAt = 0;
      if (state.status === 'needs_attention') {
        state.status = 'ok';
        state.lastError = null;
        upsertSearchAttributes([{ key: billingStatusSearchAttribute, value: 'ok' }]);
      }
      lastOutcome = { run: { billingDay, invoice } };
      closedDay = true;
    } catch (error) {
      if (!isStepFailure(error) || !patched(needsAttention)) throw error;
      lastOutcome = { failure: await closingFailed(billingDay, error) };
    }
    completedRuns = runsAnswered;
    return closedDay;
  };

  /** The next billing day; today when the domain refuses to compute it (the closing reports why); undefined while it cannot be asked. */
  const askNextBillingDay = async (): Promise<string | null | undefined> => {
    try {
      return await nextBillingDay(input.organizationId, state.lastBilledDay, today());
    } catch (error) {
      if (!isStepFailure(error) || !patched(needsAttention)) throw error;
      return domainRefusalOf(error) === null ? undefined : today();
    }
  };

  if (input.startedAt === undefined) await recordBillingCycleStarted(input.organizationId);

  const runRequested = () => requestedRuns > completedRuns;
  for (let check = 0; check < idleChecksPerRun; check += 1) {
    // A fee added in the instant since that closing waits for the next check (at most a day).
    const next = check === 0 && input.nextRunDay !== undefined ? input.nextRunDay : await askNextBillingDay();
    if (next === undefined) {
      if (!(await condition(runRequested, unavailableRetryMs))) continue;
    } else {
      state.nextRunDay = next;
      // After a failure the closing waits for its retry too, unless a runNow asks.
      const dueAt = Math.max(next === null ? Number.POSITIVE_INFINITY : midnightOf(parseDay(next)), retryAt);
      if (!runRequested() && Date.now() < dueAt) await condition(runRequested, Math.min(dueAt - Date.now(), recheckMs));
      if (!runRequested() && Date.now() < dueAt) continue;
    }
    if (await closeToday()) break;
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
    ...(state.lastError === null ? {} : { lastError: state.lastError }),
  });
}
