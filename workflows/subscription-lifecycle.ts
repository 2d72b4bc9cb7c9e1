import {
  ApplicationFailure,
  allHandlersFinished,
  condition,
  continueAsNew,
  proxyActivities,
  setHandler,
} from '@temporalio/workflow';
import type { SubscriptionActivities } from '../activities/subscriptions.js';
import {
  SubscriptionRefusedError,
  dayOf,
  decideCancel,
  decideCancelForNonPayment,
  decidePause,
  decidePlanChange,
  decideResume,
  decideSeatChange,
  formatDay,
  instantOfDay,
  midnightOf,
  nextWakeDay,
  phaseInEffect,
  settledOn,
  statusAt,
  type SubscriptionDecision,
} from '../src/domain/index.js';
import {
  cancelForNonPaymentSignal,
  type CancelRequest,
  cancelUpdate,
  type ChangePlanRequest,
  changePlanUpdate,
  type ChangeSeatsRequest,
  changeSeatsUpdate,
  pastDueSignal,
  pauseUpdate,
  paymentRecoveredSignal,
  type PersistVerdict,
  resumeUpdate,
  type SubscriptionChangeResult,
  type SubscriptionLifecycleInput,
  type SubscriptionMirror,
  subscriptionRefusal,
  type SubscriptionRefusalDetails,
  type SubscriptionSnapshot,
  subscriptionStateQuery,
} from './messages/subscription.js';

const { persistSubscription } = proxyActivities<SubscriptionActivities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute' },
});

function refuse(kind: keyof typeof subscriptionRefusal, message: string, details: SubscriptionRefusalDetails): never {
  throw ApplicationFailure.create({ message, type: subscriptionRefusal[kind], nonRetryable: true, details: [details] });
}

/** Runs a domain decision; its refusal fails the update (or its validator) with the matching failure type. */
function decided<T>(decide: () => T): T {
  try {
    return decide();
  } catch (error) {
    if (error instanceof SubscriptionRefusedError) refuse(error.kind, error.message, error.details);
    throw error;
  }
}

const today = () => dayOf(Date.now());

/** The row PostgreSQL mirrors for the state on day `now`. */
function mirrorOf(state: SubscriptionSnapshot, now: number): SubscriptionMirror {
  const current = phaseInEffect(state, now);
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

  async function apply(decide: () => SubscriptionDecision | null): Promise<SubscriptionChangeResult> {
    return exclusive(async () => {
      const decision = decided(decide);
      if (decision === null) return { state, effectiveAt: formatDay(today()), prorationLines: [] };
      await commit(decision.next, decision.checkAssignedSeats);
      return { state, effectiveAt: decision.effectiveAt, prorationLines: decision.prorationLines };
    });
  }

  const nowIso = () => new Date(Date.now()).toISOString();
  setHandler(subscriptionStateQuery, () => state);
  setHandler(changePlanUpdate, (request) => apply(() => decidePlanChange(state, request, today())), {
    validator: (request: ChangePlanRequest) => void decided(() => decidePlanChange(state, request, today())),
  });
  setHandler(changeSeatsUpdate, (request) => apply(() => decideSeatChange(state, request, today())), {
    validator: (request: ChangeSeatsRequest) => void decided(() => decideSeatChange(state, request, today())),
  });
  setHandler(cancelUpdate, (request) => apply(() => decideCancel(state, request, today(), nowIso())), {
    validator: (request: CancelRequest) => void decided(() => decideCancel(state, request, today(), nowIso())),
  });
  const pause = () => decidePause(state, today(), nowIso());
  const resume = () => decideResume(state, today());
  setHandler(pauseUpdate, () => apply(pause), { validator: () => void decided(pause) });
  setHandler(resumeUpdate, () => apply(resume), { validator: () => void decided(resume) });
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
      const next = decideCancelForNonPayment(state, today(), nowIso());
      if (next !== null) await commit(next);
    }),
  );

  for (;;) {
    const rolled = await exclusive(async () => {
      const { next, rolled } = settledOn(state, today());
      if (visible(mirrorOf(next, today())) !== lastWritten) await commit(next);
      return rolled;
    });
    if (state.canceledAt !== null) break;
    if (rolled) {
      await condition(allHandlersFinished);
      return continueAsNew<typeof subscriptionLifecycle>({ snapshot: { ...state, run: state.run + 1 } });
    }
    const seen = transitions;
    const wakeMs = midnightOf(nextWakeDay(state, today()));
    await condition(() => transitions !== seen, Math.max(wakeMs - Date.now(), 1));
  }
  await condition(allHandlersFinished);
  return state;
}
