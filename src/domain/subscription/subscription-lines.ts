import { formatDay, parseDay, type EpochDay } from '../time/dates.js';
import { DomainError } from '../errors.js';
import type { InvoiceLine } from '../invoice/lines.js';
import { allocate, percentOf, sumMinor } from '../money/money.js';
import { fixedFees, seatVolumeDiscountFor } from '../pricing/plans.js';
import { prorate, prorateChange } from './proration.js';
import { rateUsage } from '../pricing/rating.js';
import { phaseOn, servicePeriods, type ResolvedPhase, type ResolvedSubscription, type ServicePeriod } from './subscription.js';

/** A subscription's usage of one metric over one of its usage windows (see usageWindows). */
export interface UsageAggregate {
  subscriptionId: string;
  metricCode: string;
  periodStart: string;
  periodEnd: string;
  /** Aggregated value: a non-negative decimal string or number. */
  units: string | number;
  /** Events behind the value; needed by percentage charges with a fixed fee. */
  events?: number;
  /**
   * Optional split by department (null: the subscription's own department). The charge is
   * rated once on `units` (so tiers and included units see the whole subscription) and the
   * amount is allocated by these weights.
   */
  departments?: { departmentId: string | null; units: string | number }[];
}

type Attribution = Pick<InvoiceLine, 'subscriptionId' | 'organizationId' | 'departmentId'>;

function attributionOf(resolved: ResolvedSubscription, departmentId?: string): Attribution {
  const { subscription } = resolved;
  const department = departmentId ?? subscription.departmentId;
  return {
    subscriptionId: subscription.id,
    organizationId: subscription.organizationId,
    ...(department === undefined ? {} : { departmentId: department }),
  };
}

interface FeeComponent {
  kind: 'base' | 'seat';
  amount: number;
  quantity: string;
  unitAmount: number;
  /** Percent off from the plan's seat volume discounts (seat component only). */
  volumePercent: ReturnType<typeof seatVolumeDiscountFor>;
  label: string;
}

function feeComponents(phase: ResolvedPhase): FeeComponent[] {
  const { plan } = phase.compiled;
  const fees = fixedFees(plan, phase.seats);
  const planName = plan.name ?? plan.code;
  return [
    { kind: 'base', amount: fees.base, quantity: '1', unitAmount: plan.basePrice, volumePercent: null, label: `${planName} base fee` },
    {
      kind: 'seat',
      amount: fees.seat,
      quantity: String(fees.billableSeats),
      unitAmount: plan.seatPrice,
      volumePercent: seatVolumeDiscountFor(phase.compiled, phase.seats),
      label: `${planName} seats (${fees.billableSeats} × ${plan.seatPrice})`,
    },
  ];
}

interface LineSink {
  lines: InvoiceLine[];
  attribution: Attribution;
  periodStart: string;
  periodEnd: string;
}

/** Pushes a fee line and, for seat fees in a volume tier, its discount line. */
function pushFee(sink: LineSink, component: FeeComponent, line: Pick<InvoiceLine, 'key' | 'type' | 'description' | 'amount'> & { full: boolean }): void {
  if (line.amount === 0) return;
  sink.lines.push({
    key: line.key,
    type: line.type,
    description: line.description,
    ...sink.attribution,
    quantity: component.quantity,
    ...(line.full ? { unitAmount: component.unitAmount } : {}),
    amount: line.amount,
    periodStart: sink.periodStart,
    periodEnd: sink.periodEnd,
  });
  if (component.volumePercent === null) return;
  const discount = -percentOf(line.amount, component.volumePercent);
  if (discount === 0) return;
  sink.lines.push({
    key: `${line.key}:volume`,
    type: 'discount',
    description: `Seat volume discount ${component.volumePercent.toFixed()}% on ${line.description}`,
    ...sink.attribution,
    quantity: component.quantity,
    amount: discount,
    periodStart: sink.periodStart,
    periodEnd: sink.periodEnd,
  });
}

function daysLabel(days: number, periodDays: number): string {
  return `${days} of ${periodDays} days`;
}

/** In-advance fees for the period: in full from its start, or prorated from a later first paid day. */
function proposePeriodFees(resolved: ResolvedSubscription, period: ServicePeriod, periodKey: string, lines: InvoiceLine[]): void {
  const periodDays = period.periodEnd - period.periodStart;
  const full = period.from === period.periodStart;
  const sink: LineSink = {
    lines,
    attribution: attributionOf(resolved),
    periodStart: formatDay(period.from),
    periodEnd: formatDay(period.periodEnd),
  };
  for (const component of feeComponents(phaseOn(resolved, period.from))) {
    const daysPaid = period.periodEnd - period.from;
    pushFee(sink, component, {
      key: `${periodKey}:${component.kind}`,
      type: full ? (component.kind === 'base' ? 'subscription' : 'seat') : 'proration',
      description: full ? component.label : `${component.label}, prorated ${daysLabel(daysPaid, periodDays)}`,
      amount: full ? component.amount : prorate(component.amount, daysPaid, periodDays),
      full,
    });
  }
}

/**
 * A change of terms on `changeDay` inside a paid period: a credit for the old terms' unused
 * days and a debit for the new terms over the same days. `next` null is a cancellation.
 */
function proposeChange(
  resolved: ResolvedSubscription,
  period: ServicePeriod,
  changeDay: EpochDay,
  previous: ResolvedPhase,
  next: ResolvedPhase | null,
  keyPrefix: string,
  lines: InvoiceLine[],
): void {
  const periodDays = period.periodEnd - period.periodStart;
  const daysLeft = period.periodEnd - changeDay;
  const sink: LineSink = {
    lines,
    attribution: attributionOf(resolved),
    periodStart: formatDay(changeDay),
    periodEnd: formatDay(period.periodEnd),
  };
  const before = feeComponents(previous);
  const after = next === null ? null : feeComponents(next);
  before.forEach((old, index) => {
    const replacement = after?.[index];
    const unchanged =
      replacement !== undefined &&
      replacement.amount === old.amount &&
      (replacement.volumePercent?.toFixed() ?? null) === (old.volumePercent?.toFixed() ?? null);
    if (unchanged) return;
    const { credit, debit } = prorateChange({
      periodStart: formatDay(period.periodStart),
      periodEnd: formatDay(period.periodEnd),
      effectiveDate: formatDay(changeDay),
      oldAmount: old.amount,
      newAmount: replacement?.amount ?? 0,
    });
    pushFee(sink, old, {
      key: `${keyPrefix}:${old.kind}:credit`,
      type: 'proration',
      description: `Unused ${old.label}, ${daysLabel(daysLeft, periodDays)}`,
      amount: credit,
      full: false,
    });
    if (replacement === undefined) return;
    pushFee(sink, replacement, {
      key: `${keyPrefix}:${replacement.kind}:debit`,
      type: 'proration',
      description: `Remaining ${replacement.label}, ${daysLabel(daysLeft, periodDays)}`,
      amount: debit,
      full: false,
    });
  });
}

function proposeUsage(
  resolved: ResolvedSubscription,
  period: ServicePeriod,
  periodKey: string,
  aggregates: readonly UsageAggregate[],
  lines: InvoiceLine[],
): void {
  const terms = phaseOn(resolved, period.to - 1);
  const periodStart = formatDay(period.from);
  const periodEnd = formatDay(period.to);
  for (const aggregate of aggregates) {
    if (aggregate.periodStart !== periodStart) continue;
    const charge = terms.compiled.charges.get(aggregate.metricCode);
    if (charge === undefined) continue;
    const rated = rateUsage(charge, {
      units: aggregate.units,
      ...(aggregate.events === undefined ? {} : { events: aggregate.events }),
      seats: terms.seats,
    });
    if (rated.amount === 0) continue;
    const description = `${aggregate.metricCode}: ${rated.billableUnits} billable of ${rated.units} units (${charge.charge.model})`;
    const key = `${periodKey}:usage:${aggregate.metricCode}`;
    const base = { type: 'usage' as const, metricCode: aggregate.metricCode, periodStart, periodEnd };
    const split = aggregate.departments ?? [];
    if (split.length === 0) {
      lines.push({ key, description, ...attributionOf(resolved), ...base, quantity: rated.units, amount: rated.amount });
      continue;
    }
    const parts = allocate(rated.amount, split.map((department) => department.units));
    split.forEach((department, index) => {
      const amount = parts[index] ?? 0;
      if (amount === 0) return;
      lines.push({
        key: `${key}:${department.departmentId ?? '-'}`,
        description,
        ...attributionOf(resolved, department.departmentId ?? undefined),
        ...base,
        quantity: String(department.units),
        amount,
      });
    });
  }
}

/** Tops the period's spend up to its minimum commitment, prorated for a partial period. */
function proposeCommitment(resolved: ResolvedSubscription, period: ServicePeriod, periodKey: string, periodLines: InvoiceLine[]): InvoiceLine | null {
  const { plan } = phaseOn(resolved, period.to - 1).compiled;
  const minimum = plan.minimumCommitment ?? 0;
  if (minimum === 0) return null;
  const periodDays = period.periodEnd - period.periodStart;
  const committed = prorate(minimum, period.to - period.from, periodDays);
  const spent = sumMinor(periodLines.filter((line) => line.type !== 'discount').map((line) => line.amount));
  const topUp = committed - spent;
  if (topUp <= 0) return null;
  return {
    key: `${periodKey}:commitment`,
    type: 'commitment',
    description: `Minimum commitment ${committed} (spent ${spent})`,
    ...attributionOf(resolved),
    quantity: '1',
    amount: topUp,
    periodStart: formatDay(period.from),
    periodEnd: formatDay(period.to),
  };
}

/** Checks that every aggregate covers exactly one usage window of the subscription, once per metric. */
export function checkUsageWindows(resolved: ResolvedSubscription, aggregates: readonly UsageAggregate[]): void {
  const seen = new Set<string>();
  const end = resolved.end ?? Number.POSITIVE_INFINITY;
  for (const aggregate of aggregates) {
    const from = parseDay(aggregate.periodStart);
    const to = parseDay(aggregate.periodEnd);
    const period = resolved.cursor.at(from);
    const expectedFrom = Math.max(period.start, resolved.billableStart);
    const expectedTo = Math.min(period.end, end);
    if (from !== expectedFrom || to !== expectedTo || from >= to) {
      throw new DomainError(
        'USAGE_PERIOD_MISMATCH',
        `usage for ${aggregate.metricCode} on subscription ${resolved.subscription.id} must cover a usage window`,
        {
          subscriptionId: resolved.subscription.id,
          metricCode: aggregate.metricCode,
          periodStart: aggregate.periodStart,
          periodEnd: aggregate.periodEnd,
        },
      );
    }
    const departments = (aggregate.departments ?? []).map((department) => department.departmentId);
    if (new Set(departments).size !== departments.length) {
      throw new DomainError('INVALID_USAGE', `usage for ${aggregate.metricCode} lists a department twice`, {
        subscriptionId: resolved.subscription.id,
        metricCode: aggregate.metricCode,
      });
    }
    const identity = `${aggregate.metricCode}@${aggregate.periodStart}`;
    if (seen.has(identity)) {
      throw new DomainError('INVALID_USAGE', `two aggregates for ${aggregate.metricCode} in one window`, {
        subscriptionId: resolved.subscription.id,
        metricCode: aggregate.metricCode,
        periodStart: aggregate.periodStart,
      });
    }
    seen.add(identity);
  }
}

/**
 * Everything a subscription owes up to `target`, from first principles: fixed fees in advance
 * per period (prorated from a mid-period first paid day), credit and debit pairs for each plan
 * or seat change and for a cancellation inside a paid period, usage in arrears for closed
 * windows, and commitment top-ups. Lines are cumulative; the invoice diff removes what was billed.
 */
export function proposeSubscriptionLines(
  resolved: ResolvedSubscription,
  aggregates: readonly UsageAggregate[],
  target: EpochDay,
): InvoiceLine[] {
  const lines: InvoiceLine[] = [];
  const { phases, subscription } = resolved;
  for (const period of servicePeriods(resolved, target)) {
    const periodLines: InvoiceLine[] = [];
    const periodKey = `sub:${subscription.id}:${formatDay(period.periodStart)}`;
    proposePeriodFees(resolved, period, periodKey, periodLines);
    phases.forEach((phase, index) => {
      const previous = phases[index - 1];
      if (previous === undefined) return;
      const day = phase.effectiveAt;
      if (day <= period.from || day >= period.to || day > target) return;
      proposeChange(resolved, period, day, previous, phase, `${periodKey}:change${index}`, periodLines);
    });
    const end = resolved.end;
    if (end !== null && end > period.from && end < period.periodEnd && end <= target) {
      proposeChange(resolved, period, end, phaseOn(resolved, end - 1), null, `${periodKey}:cancel`, periodLines);
    }
    if (period.to <= target) {
      proposeUsage(resolved, period, periodKey, aggregates, periodLines);
      const commitment = proposeCommitment(resolved, period, periodKey, periodLines);
      if (commitment !== null) periodLines.push(commitment);
    }
    lines.push(...periodLines);
  }
  return lines;
}
