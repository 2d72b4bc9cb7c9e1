import type { EntityManager } from '@mikro-orm/postgresql';
import {
  Decimal,
  decimalToString,
  usageWindows,
  type ComputeInvoiceInput,
  type InvoiceLine as DomainInvoiceLine,
  type OrganizationProfile,
  type Plan as DomainPlan,
  type Subscription as DomainSubscription,
  type UsageAggregate as DomainUsageAggregate,
} from '../../domain/index.js';
import { Invoice, InvoiceLine, Organization, Subscription, SubscriptionPhase, type Plan, type PlanCharge } from '../entities/index.js';
import { creditBalanceOf } from './journal.js';
import { ancestryOf, subtreeOf } from './organizations.js';

/** "YYYY-MM-DD" of a UTC-midnight timestamp. */
export const billingDay = (value: Date) => value.toISOString().slice(0, 10);
/** The UTC midnight of a billing day. */
export const dayStart = (day: string) => new Date(`${day}T00:00:00.000Z`);

/** numeric(30,12) comes back padded ("0.010000000000"); the domain wants the plain decimal. */
const plainDecimal = (value: string) => (value.includes('.') ? value.replace(/\.?0+$/, '') : value);

/** A stored charge in the API's (and the domain's) terms. */
export function chargeTermsOf(charge: PlanCharge) {
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

function toDomainPlan(plan: Plan): DomainPlan {
  return {
    code: plan.code,
    name: plan.name,
    currency: plan.currency,
    interval: plan.interval,
    basePrice: plan.basePrice,
    seatPrice: plan.seatPrice,
    includedSeats: plan.includedSeats,
    trialDays: plan.trialDays,
    charges: plan.charges.getItems().map(chargeTermsOf),
  };
}

export function toDomainLine(line: InvoiceLine): DomainInvoiceLine {
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
    periodStart: billingDay(line.periodStart),
    periodEnd: billingDay(line.periodEnd),
  };
}

interface AggregateRow {
  subscription_id: string;
  metric_code: string;
  aggregation: string;
  /** "YYYY-MM-DD": raw queries return timestamps as PostgreSQL's text, not as Date. */
  period_day: string;
  scope: string;
  department_key: string;
  quantity: string;
  event_count: string;
  /** ISO 8601, for `latest` aggregations. */
  latest_at: string | null;
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
      const at = row.latest_at === null ? -Infinity : Date.parse(row.latest_at);
      if (at >= latestAt) [units, latestAt] = [value, at];
    } else units = units.plus(value);
  }
  return { units, events: rows.reduce((sum, row) => sum + Number(row.event_count), 0) };
}

/** The closed usage windows of each subscription on `targetDate`, from the running aggregates. */
async function usageOf(em: EntityManager, subscriptions: readonly DomainSubscription[], targetDate: string): Promise<DomainUsageAggregate[]> {
  if (!subscriptions.length) return [];
  const rows = await em.execute<AggregateRow[]>(
    `select a.subscription_id, m.code as metric_code, a.aggregation, to_char(a.period_start at time zone 'UTC', 'YYYY-MM-DD') as period_day, a.scope,
            a.department_key, a.quantity, a.event_count, to_char(a.latest_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') as latest_at
       from usage_aggregates a join metrics m on m.id = a.metric_id
      where a.subscription_id = any(?::uuid[]) and a.period_start < ? and (a.scope = 'total' or (a.scope = 'group' and a.user_key = ''))`,
    // An array literal: the ORM's `execute` would spread a JS array into a list of parameters.
    [`{${subscriptions.map((subscription) => subscription.id).join(',')}}`, dayStart(targetDate)],
  );
  const aggregates: DomainUsageAggregate[] = [];
  for (const subscription of subscriptions) {
    const own = rows.filter((row) => row.subscription_id === subscription.id);
    for (const window of usageWindows(subscription, targetDate)) {
      const inWindow = own.filter((row) => row.period_day >= window.periodStart && row.period_day < window.periodEnd);
      for (const metricCode of new Set(inWindow.map((row) => row.metric_code))) {
        const ofMetric = inWindow.filter((row) => row.metric_code === metricCode);
        const total = combine(ofMetric.filter((row) => row.scope === 'total'));
        const additive = ['count', 'sum'].includes(ofMetric[0]?.aggregation ?? '');
        const departments = additive
          ? [...new Set(ofMetric.filter((row) => row.scope === 'group').map((row) => row.department_key))].map((key) => ({
              departmentId: key === '' ? (subscription.departmentId ?? null) : key,
              units: decimalToString(combine(ofMetric.filter((row) => row.scope === 'group' && row.department_key === key)).units),
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

export interface LoadedAccount {
  organization: Organization;
  input: ComputeInvoiceInput;
}

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
  const organization = await em.findOne(Organization, { id: accountId });
  if (!organization) return null;
  const tree = await subtreeOf(em, accountId);
  const organizationIds = tree.map((node) => node.id);
  const profiles = await em.find(Organization, { id: { $in: organizationIds } });
  const organizations: OrganizationProfile[] = profiles.map((profile) => ({
    id: profile.id,
    parentId: profile.id === accountId ? null : (profile.parent?.id ?? null),
    taxRatePercent: profile.taxRatePercent,
  }));
  const subscriptionRows = await em.find(
    Subscription,
    { organization: { $in: organizationIds }, ...(options.subscriptionId ? { id: options.subscriptionId } : {}) },
    { orderBy: { createdAt: 'asc', id: 'asc' } },
  );
  const phases = subscriptionRows.length
    ? await em.find(
        SubscriptionPhase,
        { subscription: { $in: subscriptionRows.map((row) => row.id) } },
        { populate: ['plan', 'plan.charges', 'plan.charges.metric'], orderBy: { sequence: 'asc' } },
      )
    : [];
  const subscriptions: DomainSubscription[] = subscriptionRows.map((row) => ({
    id: row.id,
    organizationId: row.organization.id,
    ...(row.department ? { departmentId: row.department.id } : {}),
    startDate: billingDay(row.startDate),
    trialEndDate: billingDay(row.trialEnd),
    ...(row.cancelAt ? { cancelAt: billingDay(row.cancelAt) } : {}),
    ...(row.billingAnchorDay != null ? { billingAnchorDay: row.billingAnchorDay } : {}),
    phases: phases
      .filter((phase) => phase.subscription.id === row.id)
      .map((phase) => ({ effectiveAt: billingDay(phase.effectiveAt), plan: toDomainPlan(phase.plan), seats: phase.seats })),
  }));
  // A child is billed on its root's invoices: what they billed for the child's organizations counts as billed.
  const rootId = (await ancestryOf(em, accountId))?.at(-1) ?? accountId;
  const prior = await em.find(
    Invoice,
    { organization: rootId, status: { $in: ['open', 'paid', 'uncollectible'] } },
    { orderBy: { billingDate: 'asc' } },
  );
  const inSubtree = new Set(organizationIds);
  const priorLines = prior.length
    ? (await em.find(InvoiceLine, { invoice: { $in: prior.map((invoice) => invoice.id) } }, { orderBy: { position: 'asc' } })).filter((line) =>
        inSubtree.has(line.organizationId),
      )
    : [];
  return {
    organization,
    input: {
      account: { organizationId: accountId, currency: organization.currency, creditBalance: rootId === accountId ? await creditBalanceOf(em, accountId) : 0 },
      organizations,
      subscriptions,
      usage: await usageOf(em, subscriptions, targetDate),
      priorInvoices: prior.map((invoice) => ({
        id: invoice.id,
        lines: priorLines.filter((line) => line.invoice.id === invoice.id).map(toDomainLine),
      })),
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
