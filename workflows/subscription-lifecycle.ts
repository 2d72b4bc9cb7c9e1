import {
  ApplicationFailure,
  allHandlersFinished,
  condition,
  continueAsNew,
  proxyActivities,
  setHandler,
} from '@temporalio/workflow';
import type { PersistVerdict, SubscriptionActivities, SubscriptionMirror } from '../activities/subscriptions.js';
import { DomainError, fixedFees, formatDay, parseDay, resolveSubscription, type InvoiceLine } from '../src/domain/index.js';
import {
  cancelForNonPaymentSignal,
  cancelUpdate,
  changePlanUpdate,
  changeSeatsUpdate,
  pastDueSignal,
  pauseUpdate,
  paymentRecoveredSignal,
  resumeUpdate,
  subscriptionRefusal,
  subscriptionStateQuery,
  type CancelRequest,
  type ChangePlanRequest,
  type ChangeSeatsRequest,
  type SubscriptionChangeResult,
  type SubscriptionLifecycleInput,
  type SubscriptionPhaseRecord,
  type SubscriptionRefusalDetails,
  type SubscriptionSnapshot,
} from './messages.js';
import { calendarOf, changeLines, dayOf, domainSubscription, instantOfDay, periodOn, phaseOn, statusAt } from './subscription-terms.js';

const { persistSubscription } = proxyActivities<SubscriptionActivities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute' },
});

function refuse(kind: keyof typeof subscriptionRefusal, message: string, details: SubscriptionRefusalDetails): never {
  throw ApplicationFailure.create({ message, type: subscriptionRefusal[kind], nonRetryable: true, details: [details] });
}

const today = () => dayOf(Date.now());

/** A proposed next state, checked by the domain the way invoicing will read it. */
interface Decision {
  next: SubscriptionSnapshot;
  effectiveAt: string;
  prorationLines: InvoiceLine[];
  checkAssignedSeats: boolean;
}

function validated(next: SubscriptionSnapshot, cancelAt: string | null = next.cancelAt): void {
  try {
    resolveSubscription(domainSubscription(next, cancelAt));
  } catch (error) {
    if (error instanceof DomainError) refuse('invalid', error.message, { code: error.code.toLowerCase() });
    throw error;
  }
}

function refuseIfCanceled(state: SubscriptionSnapshot): void {
  if (state.canceledAt !== null) refuse('conflict', `subscription ${state.id} is canceled`, { code: 'subscription_canceled' });
}

/** Adds a phase in date order (a later entry wins a same-day tie) and returns its index. */
function withPhase(phases: readonly SubscriptionPhaseRecord[], phase: SubscriptionPhaseRecord): { phases: SubscriptionPhaseRecord[]; index: number } {
  const day = parseDay(phase.effectiveAt);
  const index = phases.filter((existing) => parseDay(existing.effectiveAt) <= day).length;
  return { phases: [...phases.slice(0, index), phase, ...phases.slice(index)], index };
}

function earliestChangeDay(state: SubscriptionSnapshot, now: number): number {
  const applied = state.phases.filter((phase) => parseDay(phase.effectiveAt) <= now).map((phase) => parseDay(phase.effectiveAt));
  return Math.max(parseDay(state.currentPeriodStart), ...applied);
}

function decidePlanChange(state: SubscriptionSnapshot, request: ChangePlanRequest, now: number): Decision {
  refuseIfCanceled(state);
  if (request.plan.applicationId !== state.applicationId) {
    refuse('invalid', `plan ${request.plan.code} belongs to another application`, { code: 'plan_application_mismatch' });
  }
  const current = phaseOn(state, now);
  let day: number;
  if (request.effectiveAt !== undefined) {
    day = parseDay(request.effectiveAt);
    if (day < earliestChangeDay(state, now)) {
      refuse('invalid', `a plan change cannot take effect before ${formatDay(earliestChangeDay(state, now))}`, { code: 'effective_date_too_early' });
    }
  } else {
    const timing =
      request.timing ??
      (totalFee(request.plan, current.seats) > totalFee(current.plan, current.seats) ? 'immediate' : 'period_end');
    day = timing === 'immediate' ? now : parseDay(state.currentPeriodEnd);
  }
  if (state.cancelAt !== null && day >= parseDay(state.cancelAt)) {
    refuse('conflict', `subscription ${state.id} ends on ${state.cancelAt}`, { code: 'subscription_ending' });
  }
  // Scheduled terms that have not begun are superseded by the newer request.
  const kept = { ...state, phases: state.phases.filter((phase) => parseDay(phase.effectiveAt) <= now) };
  const replaced = phaseOn(kept, day);
  if (replaced.plan.id === request.plan.id) {
    refuse('conflict', `plan ${request.plan.code} v${request.plan.version} is already in effect then`, { code: 'plan_unchanged' });
  }
  const effectiveAt = formatDay(day);
  const { phases, index } = withPhase(kept.phases, {
    sequence: state.nextSequence,
    kind: 'plan_change',
    effectiveAt,
    plan: request.plan,
    seats: replaced.seats,
    prorationLines: [],
  });
  return finishChange(state, phases, index, effectiveAt, false);
}

function totalFee(plan: SubscriptionPhaseRecord['plan'], seats: number): number {
  const fees = fixedFees({ ...plan, charges: [] }, seats);
  return fees.base + fees.seat;
}

function decideSeatChange(state: SubscriptionSnapshot, request: ChangeSeatsRequest, now: number): Decision {
  refuseIfCanceled(state);
  if (!Number.isSafeInteger(request.seats) || request.seats < 1) refuse('invalid', 'seats must be a positive integer', { code: 'seats_invalid' });
  const day = request.effectiveAt === undefined ? now : parseDay(request.effectiveAt);
  if (day > now) refuse('invalid', 'a seat change takes effect today or earlier in the current period', { code: 'effective_date_in_future' });
  if (day < earliestChangeDay(state, now)) {
    refuse('invalid', `a seat change cannot take effect before ${formatDay(earliestChangeDay(state, now))}`, { code: 'effective_date_too_early' });
  }
  const current = phaseOn(state, now);
  if (current.seats === request.seats) refuse('conflict', `subscription ${state.id} already has ${request.seats} seats`, { code: 'seats_unchanged' });
  const effectiveAt = formatDay(day);
  // Scheduled terms keep their plan and take the new seat count.
  const carried = state.phases.map((phase) => (parseDay(phase.effectiveAt) > now ? { ...phase, seats: request.seats } : phase));
  const { phases, index } = withPhase(carried, {
    sequence: state.nextSequence,
    kind: 'seat_change',
    effectiveAt,
    plan: phaseOn(state, day).plan,
    seats: request.seats,
    prorationLines: [],
  });
  return finishChange(state, phases, index, effectiveAt, request.seats < current.seats);
}

function finishChange(state: SubscriptionSnapshot, phases: SubscriptionPhaseRecord[], index: number, effectiveAt: string, checkAssignedSeats: boolean): Decision {
  const candidate: SubscriptionSnapshot = { ...state, phases, nextSequence: state.nextSequence + 1 };
  validated(candidate);
  const prorationLines = changeLines(domainSubscription(candidate), effectiveAt, `:change${index}:`);
  const withLines = phases.map((phase, position) => (position === index ? { ...phase, prorationLines } : phase));
  return { next: { ...candidate, phases: withLines }, effectiveAt, prorationLines, checkAssignedSeats };
}

function decideCancel(state: SubscriptionSnapshot, request: CancelRequest, now: number, nowIso: string): Decision | null {
  refuseIfCanceled(state);
  const trialing = now < parseDay(state.trialEnd);
  if (request.at === 'period_end') {
    if (request.refund === true) refuse('invalid', 'a refund is given only when canceling now', { code: 'refund_needs_cancel_now' });
    // A trial ends unpaid: canceling "at period end" during it ends at the trial's end.
    const cancelAt = trialing ? state.trialEnd : state.currentPeriodEnd;
    if (state.cancelAt === cancelAt) return null;
    validated(state, cancelAt);
    return { next: { ...state, cancelAt }, effectiveAt: cancelAt, prorationLines: [], checkAssignedSeats: false };
  }
  // Without a refund the paid period is used up: access ends at its end, and nothing is credited.
  const cancelAt = request.refund === true || trialing ? formatDay(now) : state.currentPeriodEnd;
  validated(state, cancelAt);
  const prorationLines = cancelAt === formatDay(now) ? changeLines(domainSubscription(state, cancelAt), cancelAt, ':cancel:') : [];
  return { next: { ...state, cancelAt, canceledAt: nowIso }, effectiveAt: formatDay(now), prorationLines, checkAssignedSeats: false };
}

/** The state as of `now`: a due cancellation takes effect, a finished period rolls over, status follows. */
function settled(state: SubscriptionSnapshot, now: number): { next: SubscriptionSnapshot; rolled: boolean } {
  let next = state;
  if (next.canceledAt === null && next.cancelAt !== null && now >= parseDay(next.cancelAt)) {
    next = { ...next, canceledAt: instantOfDay(next.cancelAt) };
  }
  let rolled = false;
  if (next.canceledAt === null && now >= parseDay(next.currentPeriodEnd)) {
    const period = periodOn(calendarOf(next), now);
    next = { ...next, currentPeriodStart: period.start, currentPeriodEnd: period.end };
    rolled = true;
  }
  return { next: { ...next, status: statusAt(next, now) }, rolled };
}

/** The row PostgreSQL mirrors for the state on day `now`. */
function mirrorOf(state: SubscriptionSnapshot, now: number): SubscriptionMirror {
  const current = phaseOn(state, now);
  return {
    id: state.id,
    organizationId: state.organizationId,
    applicationId: state.applicationId,
    planId: current.plan.id,
    departmentId: state.departmentId,
    status: state.status,
    seats: current.seats,
    startDate: instantOfDay(state.startDate),
    trialEnd: instantOfDay(state.trialEnd),
    billingAnchorDay: state.billingAnchorDay,
    currentPeriodStart: instantOfDay(state.currentPeriodStart),
    currentPeriodEnd: instantOfDay(state.currentPeriodEnd),
    cancelAt: state.cancelAt === null ? null : instantOfDay(state.cancelAt),
    canceledAt: state.canceledAt,
    pausedAt: state.pausedAt,
    pastDueSince: state.pastDueSince,
    version: state.version,
    phases: state.phases.map((phase) => ({
      sequence: phase.sequence,
      kind: phase.kind,
      effectiveAt: instantOfDay(phase.effectiveAt),
      planId: phase.plan.id,
      seats: phase.seats,
      prorationLines: phase.prorationLines,
    })),
  };
}

/** What the mirror shows, without the version: a change here is worth a write. */
const visible = (mirror: SubscriptionMirror) => JSON.stringify({ ...mirror, version: 0 });

/** The next billing day something happens by itself: trial end, a scheduled phase, cancellation, period end. */
function nextWakeDay(state: SubscriptionSnapshot, now: number): number {
  const days = [parseDay(state.currentPeriodEnd), parseDay(state.trialEnd), ...state.phases.map((phase) => parseDay(phase.effectiveAt))];
  if (state.cancelAt !== null) days.push(parseDay(state.cancelAt));
  return Math.min(...days.filter((day) => day > now));
}

/**
 * `subscription:<id>`: the source of truth for one subscription. Every change arrives as an
 * Update whose validator gives the API the verdict synchronously; every transition is written to
 * PostgreSQL before it is acknowledged; each period rollover continues as new.
 */
export async function subscriptionLifecycle(input: SubscriptionLifecycleInput): Promise<SubscriptionSnapshot> {
  let state = input.snapshot;
  let lastWritten = state.version === 0 ? null : visible(mirrorOf(state, today()));
  let transitions = 0;
  /** Handlers and the main loop take turns in arrival order, so each decides on the state the previous one left. */
  let queueTail: Promise<unknown> = Promise.resolve();
  function exclusive<T>(work: () => Promise<T>): Promise<T> {
    const turn = queueTail.then(work);
    queueTail = turn.catch(() => undefined);
    return turn;
  }

  async function commit(next: SubscriptionSnapshot, checkAssignedSeats = false): Promise<void> {
    const now = today();
    const candidate = { ...next, status: statusAt(next, now), version: state.version + 1 };
    const mirror = mirrorOf(candidate, now);
    const verdict: PersistVerdict = await persistSubscription(mirror, { checkAssignedSeats });
    if (!verdict.persisted) {
      refuse('conflict', `${verdict.assigned} seats are assigned; unassign ${verdict.seatsToUnassign.length} first`, {
        code: 'seats_assigned',
        seatsToUnassign: verdict.seatsToUnassign,
      });
    }
    state = candidate;
    lastWritten = visible(mirror);
    transitions += 1;
  }

  async function apply(decide: () => Decision | null): Promise<SubscriptionChangeResult> {
    return exclusive(async () => {
      const decision = decide();
      if (decision === null) return { state, effectiveAt: formatDay(today()), prorationLines: [] };
      await commit(decision.next, decision.checkAssignedSeats);
      return { state, effectiveAt: decision.effectiveAt, prorationLines: decision.prorationLines };
    });
  }

  const nowIso = () => new Date(Date.now()).toISOString();
  setHandler(subscriptionStateQuery, () => state);
  setHandler(changePlanUpdate, (request) => apply(() => decidePlanChange(state, request, today())), {
    validator: (request: ChangePlanRequest) => void decidePlanChange(state, request, today()),
  });
  setHandler(changeSeatsUpdate, (request) => apply(() => decideSeatChange(state, request, today())), {
    validator: (request: ChangeSeatsRequest) => void decideSeatChange(state, request, today()),
  });
  setHandler(cancelUpdate, (request) => apply(() => decideCancel(state, request, today(), nowIso())), {
    validator: (request: CancelRequest) => void decideCancel(state, request, today(), nowIso()),
  });
  // Pausing a paused subscription (or resuming a running one) is a retry: it changes nothing.
  const decidePause = (): Decision | null => {
    refuseIfCanceled(state);
    if (state.pausedAt !== null) return null;
    return { next: { ...state, pausedAt: nowIso() }, effectiveAt: formatDay(today()), prorationLines: [], checkAssignedSeats: false };
  };
  const decideResume = (): Decision | null => {
    refuseIfCanceled(state);
    if (state.pausedAt === null) return null;
    return { next: { ...state, pausedAt: null }, effectiveAt: formatDay(today()), prorationLines: [], checkAssignedSeats: false };
  };
  setHandler(pauseUpdate, () => apply(decidePause), { validator: () => void decidePause() });
  setHandler(resumeUpdate, () => apply(decideResume), { validator: () => void decideResume() });
  setHandler(pastDueSignal, ({ since }) =>
    exclusive(async () => {
      if (state.canceledAt === null && state.pastDueSince === null) await commit({ ...state, pastDueSince: since });
    }),
  );
  setHandler(paymentRecoveredSignal, () =>
    exclusive(async () => {
      if (state.pastDueSince !== null) await commit({ ...state, pastDueSince: null });
    }),
  );
  setHandler(cancelForNonPaymentSignal, () =>
    exclusive(async () => {
      if (state.canceledAt !== null) return;
      // Like canceling now without a refund: no credit for a period that was never paid (a trial ends today).
      const now = today();
      const cancelAt = now < parseDay(state.trialEnd) ? formatDay(now) : state.currentPeriodEnd;
      const earlier = state.cancelAt !== null && parseDay(state.cancelAt) < parseDay(cancelAt) ? state.cancelAt : cancelAt;
      await commit({ ...state, cancelAt: earlier, canceledAt: nowIso() });
    }),
  );

  for (;;) {
    const rolled = await exclusive(async () => {
      const { next, rolled } = settled(state, today());
      if (visible(mirrorOf(next, today())) !== lastWritten) await commit(next);
      return rolled;
    });
    if (state.canceledAt !== null) break;
    if (rolled) {
      await condition(allHandlersFinished);
      return continueAsNew<typeof subscriptionLifecycle>({ snapshot: { ...state, run: state.run + 1 } });
    }
    const seen = transitions;
    const wakeMs = nextWakeDay(state, today()) * 86_400_000;
    await condition(() => transitions !== seen, Math.max(wakeMs - Date.now(), 1));
  }
  await condition(allHandlersFinished);
  return state;
}
