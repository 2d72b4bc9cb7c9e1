import { DomainError } from '../errors.js';
import type { InvoiceLine } from '../invoice/lines.js';
import { Decimal, parseDecimal } from '../money/decimal.js';
import { assertNonNegativeMinorUnits, percentOf, roundMinor, sumMinor } from '../money/money.js';
import type { Plan } from '../pricing/plans.js';
import type { Subscription, SubscriptionPhase } from '../subscription/subscription.js';
import { calendarCursor } from '../time/calendar.js';
import { formatDay, parseDay, type EpochDay } from '../time/dates.js';

/**
 * Contracts: negotiated terms that change what an organization's invoices bill. Pure: the
 * invoice (src/domain/invoice/invoice.ts) asks for each term's lines, in a fixed order —
 *
 * 1. price overrides replace the plan's base and seat prices (as a plan change would, prorated by
 *    the day when a version starts mid-period);
 * 2. the discount takes its percent off each recurring and usage line, rounded once per line;
 * 3. the commitment tops each commitment period's recurring and usage charges, after the discount,
 *    up to the committed amount (pro rata for a partial period), billed at the period's end;
 * 4. SLA credits (that period's recurring charges × creditPercent) and the termination fee.
 */

export const commitmentPeriods = ['month', 'year'] as const;
export type CommitmentPeriod = (typeof commitmentPeriods)[number];

export interface PriceOverride {
  planCode: string;
  basePrice?: number;
  seatPrice?: number;
}

export interface ContractSla {
  /** Committed uptime, a decimal percent such as "99.9". */
  uptimePercent: string;
  /** Percent of the breached period's recurring charges credited. */
  creditPercent: string;
}

/** What a contract version negotiates. */
export interface ContractTerms {
  discountPercent: string;
  committedAmount: number;
  commitmentPeriod: CommitmentPeriod;
  priceOverrides: PriceOverride[];
  sla: ContractSla | null;
}

/** Terms from `effectiveFrom` (a day) until the next version, or the contract's end. */
export interface ContractVersion {
  version: number;
  effectiveFrom: string;
  terms: ContractTerms;
}

export interface SlaBreach {
  periodStart: string;
  periodEnd: string;
  measuredUptimePercent: string;
}

/** A contract as invoicing needs it. */
export interface BillingContract {
  id: string;
  name: string;
  organizationId: string;
  startDate: string;
  /** Exclusive end of its current term (renewals move it), or the day a termination took effect. */
  endDate: string;
  /** In effective order; the first starts on `startDate`. */
  versions: ContractVersion[];
  slaBreaches?: SlaBreach[];
  /** Billed once, on the day the termination takes effect. */
  terminationFee?: { amount: number; on: string };
}

export function invalidContract(message: string, details: Record<string, string | number> = {}): DomainError {
  return new DomainError('INVALID_CONTRACT', message, details);
}

const percentField = (value: string, field: string, max = 100): Decimal => {
  const parsed = parseDecimal(value, { field, maxPlaces: 4 });
  if (parsed.gt(max)) throw invalidContract(`${field} must be at most ${max}`, { field });
  return parsed;
};

/** Refuses terms no invoice could apply. */
export function validateContractTerms(terms: ContractTerms): void {
  percentField(terms.discountPercent, 'discountPercent');
  assertNonNegativeMinorUnits(terms.committedAmount, 'committedAmount');
  if (!commitmentPeriods.includes(terms.commitmentPeriod)) throw invalidContract('commitmentPeriod must be month or year', { field: 'commitmentPeriod' });
  const codes = new Set<string>();
  for (const override of terms.priceOverrides) {
    if (codes.has(override.planCode)) throw invalidContract(`priceOverrides: plan ${override.planCode} is overridden twice`, { field: 'priceOverrides', planCode: override.planCode });
    codes.add(override.planCode);
    if (override.basePrice !== undefined) assertNonNegativeMinorUnits(override.basePrice, 'basePrice');
    if (override.seatPrice !== undefined) assertNonNegativeMinorUnits(override.seatPrice, 'seatPrice');
  }
  if (terms.sla) {
    percentField(terms.sla.uptimePercent, 'sla.uptimePercent');
    percentField(terms.sla.creditPercent, 'sla.creditPercent');
  }
}

/** The terms after a renewal: overrides and the commitment go up by `upliftPercent`, each rounded once. */
export function upliftedTerms(terms: ContractTerms, upliftPercent: string): ContractTerms {
  const uplift = percentField(upliftPercent, 'renewalUpliftPercent', 1000);
  const raise = (amount: number) => roundMinor(new Decimal(amount).times(uplift.plus(100)).dividedBy(100), 'uplifted amount');
  return {
    ...terms,
    committedAmount: raise(terms.committedAmount),
    priceOverrides: terms.priceOverrides.map((override) => ({
      planCode: override.planCode,
      ...(override.basePrice === undefined ? {} : { basePrice: raise(override.basePrice) }),
      ...(override.seatPrice === undefined ? {} : { seatPrice: raise(override.seatPrice) }),
    })),
  };
}

/** `months` calendar months after `day` (the 29th–31st fall back to the month's last day). */
export function addMonths(day: string, months: number): string {
  return formatDay(calendarCursor({ interval: 'month', anchor: day }).byIndex(months).start);
}

/** The day the renewal notice is due: `noticeDays` before the end. */
export function noticeDate(endDate: string, noticeDays: number): string {
  return formatDay(parseDay(endDate) - noticeDays);
}

/** Whether two contracts' terms [start, end) overlap. */
export function contractsOverlap(a: { startDate: string; endDate: string }, b: { startDate: string; endDate: string }): boolean {
  return parseDay(a.startDate) < parseDay(b.endDate) && parseDay(b.startDate) < parseDay(a.endDate);
}

/** The version in effect on `day`, or null outside the contract's term. */
export function versionOn(contract: BillingContract, day: EpochDay): ContractVersion | null {
  if (day < parseDay(contract.startDate) || day >= parseDay(contract.endDate)) return null;
  let current: ContractVersion | null = null;
  for (const version of contract.versions) {
    if (parseDay(version.effectiveFrom) <= day) current = version;
  }
  return current;
}

/**
 * Which contract covers an organization on a day: its own in effect that day, else the nearest
 * ancestor's (`ancestryOf` gives an organization's ancestry, itself first). An organization may
 * have several contracts over time, never two at once.
 */
export function contractCoverage(contracts: readonly BillingContract[], ancestryOf: (organizationId: string) => readonly string[]) {
  const byOrganization = new Map<string, BillingContract[]>();
  for (const contract of contracts) byOrganization.set(contract.organizationId, [...(byOrganization.get(contract.organizationId) ?? []), contract]);
  const inEffect = (contract: BillingContract, day: EpochDay) => parseDay(contract.startDate) <= day && day < parseDay(contract.endDate);
  return {
    /** Every contract that may cover the organization on some day. */
    related: (organizationId: string): BillingContract[] => ancestryOf(organizationId).flatMap((id) => byOrganization.get(id) ?? []),
    on: (organizationId: string, day: EpochDay): BillingContract | null => {
      for (const id of ancestryOf(organizationId)) {
        const covering = byOrganization.get(id)?.find((contract) => inEffect(contract, day));
        if (covering) return covering;
      }
      return null;
    },
  };
}

function overriddenPlan(plan: Plan, contract: BillingContract, version: ContractVersion | null): Plan {
  const override = version?.terms.priceOverrides.find((candidate) => candidate.planCode === plan.code);
  if (!override || (override.basePrice === undefined && override.seatPrice === undefined)) return plan;
  return {
    ...plan,
    name: `${plan.name ?? plan.code} (contract ${contract.name} v${version?.version ?? 1} price)`,
    basePrice: override.basePrice ?? plan.basePrice,
    seatPrice: override.seatPrice ?? plan.seatPrice,
  };
}

const samePhaseTerms = (a: SubscriptionPhase, b: SubscriptionPhase) =>
  a.seats === b.seats && a.plan.basePrice === b.plan.basePrice && a.plan.seatPrice === b.plan.seatPrice && a.plan.name === b.plan.name && a.plan.code === b.plan.code;

/**
 * The subscription with its contracts' prices: its phases split where a version starts or a
 * contract starts or ends, each with the overrides of the contract covering it that day. A split
 * mid-period is a plan change: the days before it at the old price, the days after at the new (a
 * credit and a debit line).
 */
export function withContractPrices(subscription: Subscription, related: readonly BillingContract[], contractOn: (day: EpochDay) => BillingContract | null): Subscription {
  const start = parseDay(subscription.startDate);
  const boundaries = new Set<EpochDay>([start, ...subscription.phases.map((phase) => parseDay(phase.effectiveAt))]);
  for (const contract of related) {
    for (const day of [...contract.versions.map((version) => parseDay(version.effectiveFrom)), parseDay(contract.startDate), parseDay(contract.endDate)]) {
      if (day > start) boundaries.add(day);
    }
  }
  const phases: SubscriptionPhase[] = [];
  for (const day of [...boundaries].sort((a, b) => a - b)) {
    let base = subscription.phases[0] as SubscriptionPhase;
    for (const phase of subscription.phases) if (parseDay(phase.effectiveAt) <= day) base = phase;
    const contract = contractOn(day);
    const next: SubscriptionPhase = { effectiveAt: formatDay(day), plan: contract ? overriddenPlan(base.plan, contract, versionOn(contract, day)) : base.plan, seats: base.seats };
    const previous = phases.at(-1);
    if (previous && samePhaseTerms(previous, next)) continue;
    phases.push(next);
  }
  return { ...subscription, phases };
}

const recurringTypes = new Set(['subscription', 'seat', 'proration']);
const discountedTypes = new Set(['subscription', 'seat', 'proration', 'usage']);

/** A contract's term lines are keyed by the contract, so each is billed once across invoices. */
const termKey = (contract: BillingContract, term: string) => `contract:${contract.id}:${term}`;

/** `amount × Σ days_v ÷ periodDays` over the versions' days, rounded once. */
function prorateAcross(parts: readonly { amount: number; days: number }[], periodDays: number): number {
  const numerator = parts.reduce((sum, part) => sum.plus(new Decimal(part.amount).times(part.days)), new Decimal(0));
  return roundMinor(numerator.dividedBy(periodDays), 'committed amount');
}

interface ContractLineInput {
  contract: BillingContract;
  /** The charge lines proposed so far for the organizations the contract covers. */
  lines: readonly InvoiceLine[];
  /** The billing day invoiced up to. */
  target: EpochDay;
}

/** The contract's discount: its percent off each recurring and usage line that starts while a version with a discount is in effect. */
export function contractDiscountLines({ contract, lines }: Omit<ContractLineInput, 'target'>): InvoiceLine[] {
  const discounts: InvoiceLine[] = [];
  for (const line of lines) {
    if (!discountedTypes.has(line.type)) continue;
    const version = versionOn(contract, parseDay(line.periodStart));
    if (!version) continue;
    const percent = parseDecimal(version.terms.discountPercent, { field: 'discountPercent' });
    const amount = -percentOf(line.amount, percent);
    if (amount === 0) continue;
    discounts.push({
      key: termKey(contract, `discount:${line.key}`),
      type: 'discount',
      description: `Contract ${contract.name} v${version.version}: ${version.terms.discountPercent}% off ${line.description}`,
      organizationId: line.organizationId,
      ...(line.subscriptionId === undefined ? {} : { subscriptionId: line.subscriptionId }),
      ...(line.departmentId === undefined ? {} : { departmentId: line.departmentId }),
      quantity: '1',
      amount,
      periodStart: line.periodStart,
      periodEnd: line.periodEnd,
    });
  }
  return discounts;
}

/**
 * The commitment periods of the contract's term: months or years from its start, the last one cut
 * at its end; those starting before `until`, when given (a term may run for centuries).
 */
export function commitmentWindows(contract: BillingContract, period: CommitmentPeriod, until?: EpochDay): { start: EpochDay; end: EpochDay; fullDays: number }[] {
  const cursor = calendarCursor({ interval: period, anchor: contract.startDate });
  const end = parseDay(contract.endDate);
  const stop = Math.min(end, until ?? end);
  const windows = [];
  for (let index = 0; ; index += 1) {
    const full = cursor.byIndex(index);
    if (full.start >= stop) break;
    windows.push({ start: full.start, end: Math.min(full.end, end), fullDays: full.end - full.start });
  }
  return windows;
}

/**
 * Tops each ended commitment period up to what was committed: the period's recurring and usage
 * charges after the contract discount, against the committed amount of each version for its days
 * (a partial period pro rata).
 */
export function contractCommitmentLines({ contract, lines, target }: ContractLineInput): InvoiceLine[] {
  const first = contract.versions[0];
  if (!first) return [];
  const result: InvoiceLine[] = [];
  for (const window of commitmentWindows(contract, first.terms.commitmentPeriod, target)) {
    if (window.end > target) break;
    const parts: { amount: number; days: number }[] = [];
    for (let day = window.start; day < window.end; ) {
      const version = versionOn(contract, day);
      const next = Math.min(window.end, ...contract.versions.map((candidate) => parseDay(candidate.effectiveFrom)).filter((from) => from > day));
      parts.push({ amount: version?.terms.committedAmount ?? 0, days: next - day });
      day = next;
    }
    const committed = prorateAcross(parts, window.fullDays);
    if (committed === 0) continue;
    const inWindow = (line: InvoiceLine) => parseDay(line.periodStart) >= window.start && parseDay(line.periodStart) < window.end;
    const spent = sumMinor(lines.filter((line) => inWindow(line) && (discountedTypes.has(line.type) || line.key.startsWith(termKey(contract, 'discount:')))).map((line) => line.amount));
    const topUp = committed - spent;
    if (topUp <= 0) continue;
    result.push({
      key: termKey(contract, `commitment:${formatDay(window.start)}`),
      type: 'commitment',
      description: `Contract ${contract.name}: commitment of ${committed} for ${formatDay(window.start)} to ${formatDay(window.end)} (spent ${spent})`,
      organizationId: contract.organizationId,
      quantity: '1',
      amount: topUp,
      periodStart: formatDay(window.start),
      periodEnd: formatDay(window.end),
    });
  }
  return result;
}

/** Whether a period's measured uptime is below what the SLA commits: that period is credited. */
export function isBelowSla(measuredUptimePercent: string, sla: ContractSla): boolean {
  return parseDecimal(measuredUptimePercent, { field: 'measuredUptimePercent' }).lt(parseDecimal(sla.uptimePercent, { field: 'uptimePercent' }));
}

/** An SLA credit for each recorded breach below the committed uptime: that period's recurring charges × creditPercent. */
export function contractSlaCreditLines({ contract, lines }: Omit<ContractLineInput, 'target'>): InvoiceLine[] {
  const result: InvoiceLine[] = [];
  for (const breach of contract.slaBreaches ?? []) {
    const from = parseDay(breach.periodStart);
    const to = parseDay(breach.periodEnd);
    const sla = versionOn(contract, from)?.terms.sla;
    if (!sla) continue;
    if (!isBelowSla(breach.measuredUptimePercent, sla)) continue;
    const recurring = sumMinor(lines.filter((line) => recurringTypes.has(line.type) && parseDay(line.periodStart) >= from && parseDay(line.periodStart) < to).map((line) => line.amount));
    const credit = percentOf(recurring, parseDecimal(sla.creditPercent, { field: 'creditPercent' }));
    if (credit <= 0) continue;
    result.push({
      key: termKey(contract, `sla:${breach.periodStart}`),
      type: 'credit',
      description: `Contract ${contract.name}: SLA credit ${sla.creditPercent}% for ${breach.periodStart} to ${breach.periodEnd} (uptime ${breach.measuredUptimePercent}% < ${sla.uptimePercent}%)`,
      organizationId: contract.organizationId,
      quantity: '1',
      amount: -credit,
      periodStart: breach.periodStart,
      periodEnd: breach.periodEnd,
    });
  }
  return result;
}

/** The termination fee, once the termination has taken effect. */
export function contractTerminationLines({ contract, target }: Omit<ContractLineInput, 'lines'>): InvoiceLine[] {
  const fee = contract.terminationFee;
  if (!fee || fee.amount <= 0 || parseDay(fee.on) > target) return [];
  return [
    {
      key: termKey(contract, 'termination-fee'),
      type: 'one_off',
      description: `Contract ${contract.name}: termination fee`,
      organizationId: contract.organizationId,
      quantity: '1',
      unitAmount: fee.amount,
      amount: fee.amount,
      periodStart: fee.on,
      periodEnd: fee.on,
    },
  ];
}
