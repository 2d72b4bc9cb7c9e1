import { describe, expect, it } from '@jest/globals';
import {
  SubscriptionRefusedError,
  decideCancel,
  decideCancelForNonPayment,
  decidePause,
  decidePlanChange,
  decideResume,
  decideSeatChange,
  initialSnapshot,
  nextWakeDay,
  parseDay,
  settledOn,
  type PlanTerms,
  type SubscriptionSnapshot,
} from '../../../../src/domain/index.js';

const terms = (id: string, basePrice: number, trialDays = 0): PlanTerms => ({
  id,
  code: id,
  name: id,
  version: 1,
  applicationId: 'app_1',
  currency: 'USD',
  interval: 'month',
  basePrice,
  seatPrice: 1_000,
  includedSeats: 0,
  trialDays,
});
const basic = terms('basic', 2_000);
const pro = terms('pro', 9_000);

const today = parseDay('2027-01-10');
const nowIso = '2027-01-10T12:00:00.000Z';

/** Started on 2027-01-01 with 3 seats of basic, as of 2027-01-10. */
function subscription(overrides: Partial<SubscriptionSnapshot> = {}, trialDays = 0): SubscriptionSnapshot {
  const snapshot = initialSnapshot(
    { id: 'sub_1', organizationId: 'org_1', departmentId: null, plan: basic, seats: 3, startDate: '2027-01-01', trialDays, billingAnchorDay: null },
    today,
  );
  return { ...snapshot, ...overrides };
}

function refusal(decide: () => unknown): { kind: string; code: string } {
  try {
    decide();
  } catch (error) {
    if (error instanceof SubscriptionRefusedError) return { kind: error.kind, code: error.details.code };
    throw error;
  }
  throw new Error('the change was not refused');
}

describe('subscription change decisions', () => {
  it('upgrades now and downgrades at the period end by default', () => {
    const upgrade = decidePlanChange(subscription(), { plan: pro }, today);
    expect(upgrade.effectiveAt).toBe('2027-01-10');
    expect(upgrade.next.phases.map((phase) => [phase.kind, phase.plan.id, phase.effectiveAt])).toEqual([
      ['start', 'basic', '2027-01-01'],
      ['plan_change', 'pro', '2027-01-10'],
    ]);
    expect(upgrade.prorationLines.length).toBeGreaterThan(0);
    expect(upgrade.next.nextSequence).toBe(2);
    const downgrade = decidePlanChange({ ...subscription(), phases: upgrade.next.phases, nextSequence: 2 }, { plan: basic }, today);
    expect(downgrade.effectiveAt).toBe('2027-02-01');
    expect(downgrade.prorationLines).toEqual([]);
  });

  it('flags a seat reduction for the assigned-seats check, and not an increase', () => {
    expect(decideSeatChange(subscription(), { seats: 2 }, today).checkAssignedSeats).toBe(true);
    expect(decideSeatChange(subscription(), { seats: 5 }, today).checkAssignedSeats).toBe(false);
  });

  it.each([
    ['a plan of another application', () => decidePlanChange(subscription(), { plan: { ...pro, applicationId: 'app_2' } }, today), 'invalid', 'plan_application_mismatch'],
    ['the plan in effect', () => decidePlanChange(subscription(), { plan: basic, timing: 'immediate' }, today), 'conflict', 'plan_unchanged'],
    ['a plan change before the period', () => decidePlanChange(subscription(), { plan: pro, effectiveAt: '2026-12-31' }, today), 'invalid', 'effective_date_too_early'],
    ['a plan change after the cancellation', () => decidePlanChange(subscription({ cancelAt: '2027-02-01' }), { plan: pro, timing: 'period_end' }, today), 'conflict', 'subscription_ending'],
    ['zero seats', () => decideSeatChange(subscription(), { seats: 0 }, today), 'invalid', 'seats_invalid'],
    ['the same seats', () => decideSeatChange(subscription(), { seats: 3 }, today), 'conflict', 'seats_unchanged'],
    ['a seat change tomorrow', () => decideSeatChange(subscription(), { seats: 4, effectiveAt: '2027-01-11' }, today), 'invalid', 'effective_date_in_future'],
    ['a refund at the period end', () => decideCancel(subscription(), { at: 'period_end', refund: true }, today, nowIso), 'invalid', 'refund_needs_cancel_now'],
    ['any change once canceled', () => decidePause(subscription({ canceledAt: nowIso }), today, nowIso), 'conflict', 'subscription_canceled'],
  ])('refuses %s', (_name, decide, kind, code) => {
    expect(refusal(decide)).toEqual({ kind, code });
  });

  it('cancels at the period end, and a repeat changes nothing', () => {
    const decision = decideCancel(subscription(), { at: 'period_end' }, today, nowIso);
    expect(decision).toMatchObject({ effectiveAt: '2027-02-01', next: { cancelAt: '2027-02-01', canceledAt: null } });
    expect(decideCancel(decision!.next, { at: 'period_end' }, today, nowIso)).toBeNull();
  });

  it('cancels now with a refund: access ends today with a credit', () => {
    const decision = decideCancel(subscription(), { at: 'now', refund: true }, today, nowIso);
    expect(decision).toMatchObject({ effectiveAt: '2027-01-10', next: { cancelAt: '2027-01-10', canceledAt: nowIso } });
    expect(decision!.prorationLines.length).toBeGreaterThan(0);
  });

  it('pauses and resumes once each', () => {
    const paused = decidePause(subscription(), today, nowIso);
    expect(paused?.next.pausedAt).toBe(nowIso);
    expect(decidePause(paused!.next, today, nowIso)).toBeNull();
    expect(decideResume(paused!.next, today)?.next.pausedAt).toBeNull();
    expect(decideResume(subscription(), today)).toBeNull();
  });

  it('cancels for non-payment at the period end (today during a trial), keeping an earlier cancellation', () => {
    expect(decideCancelForNonPayment(subscription(), today, nowIso)).toMatchObject({ cancelAt: '2027-02-01', canceledAt: nowIso });
    expect(decideCancelForNonPayment(subscription({}, 30), today, nowIso)).toMatchObject({ cancelAt: '2027-01-10' });
    expect(decideCancelForNonPayment(subscription({ cancelAt: '2027-01-20' }), today, nowIso)).toMatchObject({ cancelAt: '2027-01-20' });
    expect(decideCancelForNonPayment(subscription({ canceledAt: nowIso }), today, nowIso)).toBeNull();
  });

  it('settles a finished period into the next, and a due cancellation into canceled', () => {
    const rolled = settledOn(subscription(), parseDay('2027-02-03'));
    expect(rolled).toMatchObject({ rolled: true, next: { currentPeriodStart: '2027-02-01', currentPeriodEnd: '2027-03-01', status: 'active' } });
    const ended = settledOn(subscription({ cancelAt: '2027-02-01' }), parseDay('2027-02-01'));
    expect(ended).toMatchObject({ rolled: false, next: { canceledAt: '2027-02-01T00:00:00.000Z', status: 'canceled' } });
  });

  it('wakes on the next day something happens by itself', () => {
    expect(nextWakeDay(subscription(), today)).toBe(parseDay('2027-02-01'));
    expect(nextWakeDay(subscription({}, 14), today)).toBe(parseDay('2027-01-15'));
    expect(nextWakeDay(subscription({ cancelAt: '2027-01-20' }), today)).toBe(parseDay('2027-01-20'));
  });
});
