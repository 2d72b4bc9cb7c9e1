import type { EntityManager } from '@mikro-orm/postgresql';
import {
  type BillingContract,
  type CostAllocation,
  computeInvoice,
  dateOfDay,
  dayOfDate,
  Decimal,
  decimalToString,
  formatDay,
  parseDay,
  usageWindows,
  type ComputeInvoiceInput,
  type InvoiceLine as DomainInvoiceLine,
  type Plan as DomainPlan,
  type Subscription as DomainSubscription,
  type UsageAggregate as DomainUsageAggregate,
} from '../../domain/index.js';
import type { InvoiceLine, PaymentTerms, Plan, PlanCharge } from '../entities/index.js';
import { sql } from '../sql.js';
import { organizationTree } from './organizations.js';

/** "YYYY-MM-DD" of a UTC-midnight timestamp (the domain's conversion, under the name the repositories use). */
export const billingDay = dayOfDate;
/** The UTC midnight of a billing day (the domain's conversion). */
export const dayStart = dateOfDay;

/** numeric(30,12) comes back padded ("0.010000000000"); the domain wants the plain decimal. */
const plainDecimal = (value: string) => (value.includes('.') ? value.replace(/\.?0+$/, '') : value);

/** A stored charge: a `PlanCharge` entity, or one of `loadBillingAccount`'s rows (numerics as text, like the entity's). */
type StoredCharge = Pick<PlanCharge, 'model' | 'unitPrice' | 'packageSize' | 'tiers' | 'rate' | 'fixedFee' | 'included' | 'allocation' | 'hardLimit'> & {
  metric: { code: string };
};

/** A stored charge in the API's (and the domain's) terms. */
export function chargeTermsOf(charge: StoredCharge) {
  return {
    metricCode: charge.metric.code,
    model: charge.model,
    ...(charge.unitPrice != null ? { unitPrice: plainDecimal(charge.unitPrice) } : {}),
    ...(charge.packageSize != null ? { packageSize: charge.packageSize } : {}),
    ...(charge.tiers != null ? { tiers: charge.tiers } : {}),
    ...(charge.rate != null ? { rate: plainDecimal(charge.rate) } : {}),
    ...(charge.fixedFee != null ? { fixedFee: plainDecimal(charge.fixedFee) } : {}),
    included: charge.included,
    allocation: charge.allocation,
    ...(charge.hardLimit != null ? { hardLimit: charge.hardLimit } : {}),
  };
}

type PlanRow = Pick<Plan, 'id' | 'code' | 'name' | 'currency' | 'interval' | 'basePrice' | 'seatPrice' | 'includedSeats' | 'trialDays'> & {
  charges: StoredCharge[];
};

function toDomainPlan(plan: PlanRow): DomainPlan {
  return {
    code: plan.code,
    name: plan.name,
    currency: plan.currency,
    interval: plan.interval,
    basePrice: plan.basePrice,
    seatPrice: plan.seatPrice,
    includedSeats: plan.includedSeats,
    trialDays: plan.trialDays,
    charges: plan.charges.map(chargeTermsOf),
  };
}

/** A stored invoice line: an `InvoiceLine` entity (period as instants) or one of `loadBillingAccount`'s rows (period as billing days). */
type StoredLine = Pick<
  InvoiceLine,
  'key' | 'type' | 'description' | 'organizationId' | 'subscriptionId' | 'departmentId' | 'metricCode' | 'couponId' | 'quantity' | 'unitAmount' | 'amount'
> & { periodStart: Date | string; periodEnd: Date | string };

const asDay = (value: Date | string) => (typeof value === 'string' ? value : billingDay(value));

export function toDomainLine(line: StoredLine): DomainInvoiceLine {
  return {
    key: line.key,
    type: line.type,
    description: line.description,
    organizationId: line.organizationId,
    ...(line.subscriptionId ? { subscriptionId: line.subscriptionId } : {}),
    ...(line.departmentId ? { departmentId: line.departmentId } : {}),
    ...(line.metricCode ? { metricCode: line.metricCode } : {}),
    ...(line.couponId ? { couponId: line.couponId } : {}),
    quantity: line.quantity,
    ...(line.unitAmount != null ? { unitAmount: line.unitAmount } : {}),
    amount: line.amount,
    periodStart: asDay(line.periodStart),
    periodEnd: asDay(line.periodEnd),
  };
}

interface AggregateRow {
  subscriptionId: string;
  metricCode: string;
  aggregation: string;
  /** "YYYY-MM-DD" of the aggregate's period start. */
  periodDay: string;
  scope: string;
  departmentKey: string;
  quantity: string;
  eventCount: number;
  /** ISO 8601, for `latest` aggregations. */
  latestAt: string | null;
}

/** Combines the running aggregates that fall in one usage window (normally exactly one row per scope). */
function combine(rows: readonly AggregateRow[]): { units: Decimal; events: number } {
  const aggregation = rows[0]?.aggregation;
  let units = new Decimal(0);
  let latestAt = -Infinity;
  for (const row of rows) {
    const value = new Decimal(row.quantity);
    if (aggregation === 'max') units = Decimal.max(units, value);
    else if (aggregation === 'latest') {
      const at = row.latestAt === null ? -Infinity : Date.parse(row.latestAt);
      if (at >= latestAt) [units, latestAt] = [value, at];
    } else units = units.plus(value);
  }
  return { units, events: rows.reduce((sum, row) => sum + row.eventCount, 0) };
}

/** The closed usage windows of each subscription on `targetDate`, from its running aggregates (`rows`, which end before `targetDate`). */
function usageOf(subscriptions: readonly DomainSubscription[], rows: readonly AggregateRow[], targetDate: string): DomainUsageAggregate[] {
  const aggregates: DomainUsageAggregate[] = [];
  for (const subscription of subscriptions) {
    const own = rows.filter((row) => row.subscriptionId === subscription.id);
    for (const window of usageWindows(subscription, targetDate)) {
      const inWindow = own.filter((row) => row.periodDay >= window.periodStart && row.periodDay < window.periodEnd);
      for (const metricCode of new Set(inWindow.map((row) => row.metricCode))) {
        const ofMetric = inWindow.filter((row) => row.metricCode === metricCode);
        const total = combine(ofMetric.filter((row) => row.scope === 'total'));
        const additive = ['count', 'sum'].includes(ofMetric[0]?.aggregation ?? '');
        const departments = additive
          ? [...new Set(ofMetric.filter((row) => row.scope === 'group').map((row) => row.departmentKey))].map((key) => ({
              departmentId: key === '' ? (subscription.departmentId ?? null) : key,
              units: decimalToString(combine(ofMetric.filter((row) => row.scope === 'group' && row.departmentKey === key)).units),
            }))
          : [];
        const spansDepartments = departments.length > 1 || (departments[0] !== undefined && departments[0].departmentId !== (subscription.departmentId ?? null));
        aggregates.push({
          subscriptionId: subscription.id,
          metricCode,
          periodStart: window.periodStart,
          periodEnd: window.periodEnd,
          units: decimalToString(total.units),
          events: total.events,
          ...(spansDepartments ? { departments } : {}),
        });
      }
    }
  }
  return aggregates;
}

/** What the billing of an account needs to know about its organization. */
export interface BillingAccountProfile {
  id: string;
  currency: string;
  paymentTerms: PaymentTerms;
  netTermsDays: number;
}

export interface LoadedAccount {
  organization: BillingAccountProfile;
  input: ComputeInvoiceInput;
}

/** The JSON document `accountStatement` returns: days as "YYYY-MM-DD", numerics as text where the domain wants them exact. */
interface AccountDocument {
  profile: BillingAccountProfile;
  /** Null unless the account is its hierarchy's root (a child's credit stays with its root). */
  creditBalance: number | null;
  organizations: { id: string; parentId: string | null; taxRatePercent: string }[];
  plans: PlanRow[];
  subscriptions: {
    id: string;
    organizationId: string;
    departmentId: string | null;
    startDate: string;
    trialEndDate: string;
    cancelAt: string | null;
    billingAnchorDay: number | null;
    phases: { effectiveAt: string; planId: string; seats: number }[];
    costAllocations: { effectiveFrom: string; allocations: CostAllocation[] }[];
  }[];
  usage: AggregateRow[];
  priorInvoices: { id: string; lines: StoredLine[] }[];
  contracts: (Omit<BillingContract, 'terminationFee'> & { terminationFee: BillingContract['terminationFee'] | null })[];
}

/** A timestamp column as its UTC billing day. */
const dayOf = (column: string) => `to_char(${column} at time zone 'UTC', 'YYYY-MM-DD')`;

/**
 * Everything `loadBillingAccount` reads, as one JSON document from one statement: it runs for
 * every account on every billing cycle, where round trips and entity hydration cost the most.
 * The account is the top of what is billed, so it has no parent here even when it is a child; a
 * child is billed on its root's invoices, so what they billed for the child's organizations counts
 * as billed. Usage rows come in key order, so ties in `combine` and the order of departments do
 * not depend on the query plan. Parameters: the account, the one subscription to load (null:
 * all), the target day's start.
 */
const accountStatement = `with recursive
  account as (select id, parent_id, currency, payment_terms, net_terms_days from organizations where id = $1),
  ${organizationTree('tree', 'descendants', 'id = $1')},
  ${organizationTree('chain', 'ancestors', 'id = $1')},
  subs as (
    select id, organization_id, department_id, start_date, trial_end, cancel_at, billing_anchor_day, created_at from subscriptions
     where organization_id in (select id from tree) and id = coalesce($2::uuid, id)
  )
select json_build_object(
  'profile', json_build_object('id', a.id, 'currency', a.currency, 'paymentTerms', a.payment_terms, 'netTermsDays', a.net_terms_days),
  'creditBalance', case when a.parent_id is null then (
    select coalesce(sum(l.credit - l.debit), 0) from journal_lines l join journal_entries e on e.id = l.entry_id
     where e.organization_id = a.id and l.account = 'customer_credit') end,
  'organizations', (select json_agg(json_build_object('id', t.id, 'parentId', case when t.depth = 0 then null else t.parent_id end,
    'taxRatePercent', o.tax_rate_percent::text) order by t.depth, t.id) from tree t join organizations o on o.id = t.id),
  'plans', coalesce((select json_agg(json_build_object('id', p.id, 'code', p.code, 'name', p.name, 'currency', p.currency, 'interval', p.interval,
      'basePrice', p.base_price, 'seatPrice', p.seat_price, 'includedSeats', p.included_seats, 'trialDays', p.trial_days,
      'charges', coalesce((select json_agg(json_build_object('metric', json_build_object('code', m.code), 'model', c.model,
          'unitPrice', c.unit_price::text, 'packageSize', c.package_size, 'tiers', c.tiers, 'rate', c.rate::text, 'fixedFee', c.fixed_fee::text,
          'included', c.included, 'allocation', c.allocation, 'hardLimit', c.hard_limit) order by c.position)
        from plan_charges c join metrics m on m.id = c.metric_id where c.plan_id = p.id), '[]')))
    from plans p where p.id in (select plan_id from subscription_phases where subscription_id in (select id from subs))), '[]'),
  'subscriptions', coalesce((select json_agg(json_build_object('id', s.id, 'organizationId', s.organization_id, 'departmentId', s.department_id,
      'startDate', ${dayOf('s.start_date')}, 'trialEndDate', ${dayOf('s.trial_end')}, 'cancelAt', ${dayOf('s.cancel_at')}, 'billingAnchorDay', s.billing_anchor_day,
      'phases', coalesce((select json_agg(json_build_object('effectiveAt', ${dayOf('ph.effective_at')}, 'planId', ph.plan_id, 'seats', ph.seats) order by ph.sequence)
        from subscription_phases ph where ph.subscription_id = s.id), '[]'),
      'costAllocations', coalesce((select json_agg(json_build_object('effectiveFrom', ${dayOf('a.effective_from')}, 'allocations', a.allocations) order by a.effective_from)
        from subscription_cost_allocations a where a.subscription_id = s.id), '[]')) order by s.created_at, s.id)
    from subs s), '[]'),
  'usage', coalesce((select json_agg(json_build_object('subscriptionId', u.subscription_id, 'metricCode', m.code, 'aggregation', u.aggregation,
      'periodDay', ${dayOf('u.period_start')}, 'scope', u.scope, 'departmentKey', u.department_key, 'quantity', u.quantity::text,
      'eventCount', u.event_count, 'latestAt', to_char(u.latest_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'))
      order by u.subscription_id, m.code, u.period_start, u.scope, u.department_key)
    from usage_aggregates u join metrics m on m.id = u.metric_id
    where u.subscription_id in (select id from subs) and u.period_start < $3 and (u.scope = 'total' or (u.scope = 'group' and u.user_key = ''))), '[]'),
  'priorInvoices', coalesce((select json_agg(json_build_object('id', i.id,
      'lines', coalesce((select json_agg(json_build_object('key', l.key, 'type', l.type, 'description', l.description,
          'organizationId', l.organization_id, 'subscriptionId', l.subscription_id, 'departmentId', l.department_id, 'metricCode', l.metric_code,
          'couponId', l.coupon_id, 'quantity', l.quantity, 'unitAmount', l.unit_amount, 'amount', l.amount,
          'periodStart', ${dayOf('l.period_start')}, 'periodEnd', ${dayOf('l.period_end')}) order by l.position)
        from invoice_lines l where l.invoice_id = i.id and l.organization_id in (select id from tree)), '[]')) order by i.billing_date)
    from invoices i where i.organization_id = (select id from chain where parent_id is null) and i.status in ('open', 'paid', 'uncollectible')), '[]'),
  'contracts', coalesce((select json_agg(json_build_object('id', k.id, 'name', k.name, 'organizationId', k.organization_id,
      'startDate', ${dayOf('k.start_date')}, 'endDate', ${dayOf('least(k.end_date, coalesce(k.terminates_on, k.end_date))')},
      'versions', (select json_agg(json_build_object('version', v.version, 'effectiveFrom', ${dayOf('v.effective_from')}, 'terms', v.terms)
        order by v.effective_from, v.version) from contract_versions v where v.contract_id = k.id),
      'slaBreaches', coalesce((select json_agg(json_build_object('periodStart', ${dayOf('b.period_start')}, 'periodEnd', ${dayOf('b.period_end')},
        'measuredUptimePercent', b.measured_uptime_percent) order by b.period_start) from contract_sla_breaches b where b.contract_id = k.id), '[]'),
      'terminationFee', case when k.terminates_on is not null and k.termination_fee > 0
        then json_build_object('amount', k.termination_fee, 'on', ${dayOf('k.terminates_on')}) end) order by k.start_date, k.id)
    from contracts k where k.organization_id in (select id from tree)), '[]')
) as document
from account a`;

/**
 * Everything the domain needs to propose the invoice of `accountId` (a billing account, or a
 * child for its share of its account's invoice) on `targetDate`: the organization and
 * its descendants, their subscriptions as phase histories, the usage of closed windows, earlier
 * finalized invoices (void ones excluded) and the customer's credit balance.
 */
export async function loadBillingAccount(
  em: EntityManager,
  accountId: string,
  targetDate: string,
  options: { subscriptionId?: string } = {},
): Promise<LoadedAccount | null> {
  const [row] = await sql<{ document: AccountDocument }>(em, accountStatement, [accountId, options.subscriptionId || null, dayStart(targetDate)]);
  if (!row) return null;
  const { document } = row;
  const plans = new Map(document.plans.map((plan) => [plan.id, toDomainPlan(plan)]));
  const subscriptions: DomainSubscription[] = document.subscriptions.map((subscription) => ({
    id: subscription.id,
    organizationId: subscription.organizationId,
    ...(subscription.departmentId ? { departmentId: subscription.departmentId } : {}),
    startDate: subscription.startDate,
    trialEndDate: subscription.trialEndDate,
    ...(subscription.cancelAt ? { cancelAt: subscription.cancelAt } : {}),
    ...(subscription.billingAnchorDay != null ? { billingAnchorDay: subscription.billingAnchorDay } : {}),
    phases: subscription.phases.map((phase) => ({ effectiveAt: phase.effectiveAt, plan: plans.get(phase.planId)!, seats: phase.seats })),
    ...(subscription.costAllocations.length ? { costAllocations: subscription.costAllocations } : {}),
  }));
  return {
    organization: document.profile,
    input: {
      account: { organizationId: accountId, currency: document.profile.currency, creditBalance: document.creditBalance ?? 0 },
      organizations: document.organizations,
      subscriptions,
      usage: usageOf(subscriptions, document.usage, targetDate),
      priorInvoices: document.priorInvoices.map((invoice) => ({ id: invoice.id, lines: invoice.lines.map(toDomainLine) })),
      contracts: document.contracts.map(({ terminationFee, ...contract }) => ({ ...contract, ...(terminationFee ? { terminationFee } : {}) })),
      targetDate,
    },
  };
}

/** The first day after `afterDay` (or from the start, when nothing was billed) on which a subscription of the account starts a period. */
export function nextPeriodBoundary(subscriptions: readonly DomainSubscription[], afterDay: string | null, horizonDay: string): string | null {
  let next: string | null = null;
  for (const subscription of subscriptions) {
    const windows = usageWindows(subscription, horizonDay);
    const boundaries = [subscription.trialEndDate ?? subscription.startDate, ...windows.map((window) => window.periodEnd)];
    for (const day of boundaries) {
      if ((afterDay === null || day > afterDay) && (next === null || day < next)) next = day;
    }
  }
  return next;
}

/** How far ahead to look for the next period boundary: beyond the longest interval (a year). */
const horizonDays = 800;
export const horizonAfter = (day: string) => formatDay(parseDay(day) + horizonDays);

/** Which part of an account a billing-day lookup is about: one subscription, or (by default) all of it. */
export type BillingScope = { subscriptionId?: string };

/** Whether billing `loaded` would charge a fee or usage: prorations alone (an upgrade, a seat change) wait for the next period's invoice. */
const chargesDue = (loaded: LoadedAccount) => computeInvoice(loaded.input).lines.some((line) => line.type !== 'proration');

/**
 * The billing cycle's next billing day after `afterDay` (null: nothing billed yet): `today` when
 * a fee is already due (a subscription added since the last closing), else the first day on
 * which a subscription of the account starts a period, or null when none will. `accountId` may
 * be a child (its share) and `scope` one subscription, for previews.
 */
export async function nextBillingDayOf(em: EntityManager, accountId: string, afterDay: string | null, today: string, scope: BillingScope = {}): Promise<string | null> {
  if (afterDay !== null && afterDay < today) {
    const dueNow = await loadBillingAccount(em, accountId, today, scope);
    if (dueNow && chargesDue(dueNow)) return today;
  }
  const horizon = horizonAfter(afterDay ?? today);
  const loaded = await loadBillingAccount(em, accountId, horizon, scope);
  if (!loaded) return null;
  return nextPeriodBoundary(loaded.input.subscriptions, afterDay, horizon);
}

/** The last day the billing account of `organizationId` (its hierarchy's root) was invoiced ("YYYY-MM-DD"), null before its first invoice. */
async function lastInvoicedDay(em: EntityManager, organizationId: string): Promise<string | null> {
  const [row] = await sql<{ day: string | null }>(
    em,
    `with recursive ${organizationTree('chain', 'ancestors', 'id = $1')}
     select ${dayOf('max(i.billing_date)')} as day from invoices i where i.organization_id = (select id from chain where parent_id is null)`,
    [organizationId],
  );
  return row?.day ?? null;
}

/**
 * The billing day of the next invoice with lines for `organizationId` (a billing account, or a
 * child for its share) or one subscription, as the cycle reaches it: its next check (today, or
 * tomorrow when today is invoiced already) asks `nextBillingDayOf` after the last invoice, and
 * a closing that would issue nothing is passed over for the next one. The cycle counts from its
 * last closing instead, which is later only when that closing issued nothing (no invoice row).
 */
export async function upcomingBillingDay(em: EntityManager, organizationId: string, today: string, scope: BillingScope = {}): Promise<string> {
  const lastInvoiced = await lastInvoicedDay(em, organizationId);
  const check = lastInvoiced !== null && lastInvoiced >= today ? formatDay(parseDay(today) + 1) : today;
  const next = (await nextBillingDayOf(em, organizationId, lastInvoiced, check, scope)) ?? check;
  const day = next > check ? next : check;
  const closing = await loadBillingAccount(em, organizationId, day, scope);
  if (!closing || computeInvoice(closing.input).lines.length > 0) return day;
  return (await nextBillingDayOf(em, organizationId, day, day, scope)) ?? day;
}
