import { calendarCursor, type BillingCalendar, type CalendarCursor } from '../time/calendar.js';
import { formatDay, parseDay, type EpochDay } from '../time/dates.js';
import { proposeCouponLines, type Coupon } from './discounts.js';
import { DomainError } from '../errors.js';
import { isChargeLine, type InvoiceLine, type InvoiceLineType } from './lines.js';
import { addMinor, assertMinorUnits, assertNonNegativeMinorUnits, currencyExponent, sumMinor } from '../money/money.js';
import { resolveSubscription, type ResolvedSubscription, type Subscription } from '../subscription/subscription.js';
import { allocateLine, type CostAllocation } from '../budget/budget.js';
import { checkUsageWindows, proposeSubscriptionLines, type UsageAggregate } from '../subscription/subscription-lines.js';
import { proposeTaxLines, taxRateOf, type OrganizationProfile } from './tax.js';
import {
  contractCommitmentLines,
  contractCoverage,
  contractDiscountLines,
  contractSlaCreditLines,
  contractTerminationLines,
  withContractPrices,
  type BillingContract,
} from '../contract/contract.js';

/** Where an invoice stands: a draft is computed, then finalized open, then paid, voided or written off. */
export const invoiceStatusValues = ['draft', 'open', 'paid', 'void', 'uncollectible'] as const;
export type InvoiceStatus = (typeof invoiceStatusValues)[number];
/** Charged to the account's default payment method, or sent for the customer to pay by its due date. */
export const collectionMethodValues = ['charge_automatically', 'send_invoice'] as const;
export type CollectionMethod = (typeof collectionMethodValues)[number];

/** The organization invoices are addressed to; its descendants are consolidated onto them. */
export interface BillingAccount {
  organizationId: string;
  currency: string;
  /** The account's billing cycle; needed only by coupons that are not tied to one subscription. */
  calendar?: BillingCalendar;
  /** Customer credit balance in minor units, applied after tax. */
  creditBalance?: number;
}

/** An item created outside the subscription history (a one-off charge or credit, an external proration). */
export interface PendingItem {
  id: string;
  type: 'proration' | 'one_off';
  description: string;
  organizationId: string;
  subscriptionId?: string;
  departmentId?: string;
  /** Signed minor units. */
  amount: number;
  quantity?: string;
  unitAmount?: number;
  periodStart: string;
  periodEnd: string;
  /** Billing day from which it may be invoiced; defaults to periodStart. */
  effectiveAt?: string;
}

/** An earlier, finalized invoice of the account (void invoices are left out by the caller). */
export interface PriorInvoice {
  id?: string;
  lines: readonly InvoiceLine[];
}

export interface ComputeInvoiceInput {
  account: BillingAccount;
  /** The account organization and its descendants, with tax profiles. */
  organizations: readonly OrganizationProfile[];
  subscriptions: readonly Subscription[];
  usage?: readonly UsageAggregate[];
  pendingItems?: readonly PendingItem[];
  priorInvoices?: readonly PriorInvoice[];
  coupons?: readonly Coupon[];
  /** The account's contracts: each covers its organization and the descendants without one of their own. */
  contracts?: readonly BillingContract[];
  /** The billing day to invoice up to: fees due in advance on or before it, usage closed by it. */
  targetDate: string;
}

export interface InvoiceProposal {
  organizationId: string;
  currency: string;
  targetDate: string;
  periodStart: string;
  periodEnd: string;
  /** Charge lines, then discounts, then tax, then credits. Lines sum to `amountDue`. */
  lines: InvoiceLine[];
  subtotal: number;
  /** Total discount as a positive number: what discount lines and contract SLA credits take off. */
  discount: number;
  tax: number;
  /** subtotal − discount + tax, never below zero; a negative remainder is carried to the credit balance. */
  total: number;
  creditApplied: number;
  creditCarriedForward: number;
  amountDue: number;
  creditBalanceAfter: number;
}

const TYPE_ORDER: readonly InvoiceLineType[] = [
  'subscription',
  'seat',
  'proration',
  'usage',
  'commitment',
  'one_off',
  'discount',
  'tax',
  'credit',
];

/** Account organization first, then descendants depth-first by id; every one must reach the account. */
function organizationOrder(account: BillingAccount, organizations: readonly OrganizationProfile[]): OrganizationProfile[] {
  const byId = new Map<string, OrganizationProfile>();
  for (const organization of organizations) {
    if (byId.has(organization.id)) {
      throw new DomainError('INVALID_ACCOUNT', `organization ${organization.id} listed twice`, { organizationId: organization.id });
    }
    taxRateOf(organization);
    byId.set(organization.id, organization);
  }
  const root = byId.get(account.organizationId);
  if (root === undefined) {
    throw new DomainError('INVALID_ACCOUNT', 'organizations must include the account organization', {
      organizationId: account.organizationId,
    });
  }
  const ordered: OrganizationProfile[] = [];
  const visit = (organization: OrganizationProfile): void => {
    ordered.push(organization);
    organizations
      .filter((child) => child.parentId === organization.id && child.id !== account.organizationId)
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
      .forEach(visit);
  };
  visit(root);
  if (ordered.length !== organizations.length) {
    throw new DomainError('INVALID_ACCOUNT', 'every organization must descend from the account organization', {
      organizationId: account.organizationId,
    });
  }
  return ordered;
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function sortLines(lines: InvoiceLine[], organizationRank: ReadonlyMap<string, number>): InvoiceLine[] {
  return lines.sort(
    (a, b) =>
      (organizationRank.get(a.organizationId) ?? 0) - (organizationRank.get(b.organizationId) ?? 0) ||
      compareText(a.departmentId ?? '', b.departmentId ?? '') ||
      compareText(a.subscriptionId ?? '', b.subscriptionId ?? '') ||
      compareText(a.periodStart, b.periodStart) ||
      TYPE_ORDER.indexOf(a.type) - TYPE_ORDER.indexOf(b.type) ||
      compareText(a.metricCode ?? '', b.metricCode ?? '') ||
      compareText(a.key, b.key),
  );
}

function pendingLine(item: PendingItem): InvoiceLine {
  if (item.type !== 'proration' && item.type !== 'one_off') {
    throw new DomainError('INVALID_PENDING_ITEM', `pending item ${item.id}: type must be proration or one_off`, { id: item.id });
  }
  assertMinorUnits(item.amount, 'pending item amount');
  if (parseDay(item.periodEnd) < parseDay(item.periodStart)) {
    throw new DomainError('INVALID_PENDING_ITEM', `pending item ${item.id}: period ends before it starts`, { id: item.id });
  }
  return {
    key: `pending:${item.id}`,
    type: item.type,
    description: item.description,
    organizationId: item.organizationId,
    ...(item.subscriptionId === undefined ? {} : { subscriptionId: item.subscriptionId }),
    ...(item.departmentId === undefined ? {} : { departmentId: item.departmentId }),
    quantity: item.quantity ?? '1',
    ...(item.unitAmount === undefined ? {} : { unitAmount: item.unitAmount }),
    amount: item.amount,
    periodStart: item.periodStart,
    periodEnd: item.periodEnd,
  };
}

/**
 * A subscription's line split across departments by the allocation in effect on its periodStart;
 * usage recorded for another department than the subscription's stays with that department.
 */
function allocatedLines(line: InvoiceLine, subscription: Subscription): InvoiceLine[] {
  if (line.departmentId !== subscription.departmentId) return [line];
  let allocations: readonly CostAllocation[] = [];
  for (const version of subscription.costAllocations ?? []) {
    if (version.effectiveFrom <= line.periodStart) allocations = version.allocations;
  }
  return allocateLine(line, allocations);
}

/** The day a derived line becomes billable: period end for in-arrears lines, period start otherwise. */
function billableDay(line: InvoiceLine): EpochDay {
  return parseDay(line.type === 'usage' || line.type === 'commitment' ? line.periodEnd : line.periodStart);
}

interface BilledItem {
  line: InvoiceLine;
  amount: number;
}

/**
 * Proposes the invoice for a billing account on `targetDate`, Kill Bill style: derive every
 * item the account owes from its history (subscriptions, usage, pending items, coupons), then
 * subtract what earlier invoices already billed, item by item (lines share a `key`). What is
 * left is this invoice; an item that changed since it was billed yields an adjustment line, an
 * item of a listed subscription or coupon that is no longer owed yields a reversal. Discount
 * lines follow charge lines, tax follows discounts, and credits come last; the total is never
 * negative. Billing the result and proposing again yields no lines.
 */
export function computeInvoice(input: ComputeInvoiceInput): InvoiceProposal {
  const { account } = input;
  const target = parseDay(input.targetDate);
  currencyExponent(account.currency);
  const creditBalance = assertNonNegativeMinorUnits(account.creditBalance ?? 0, 'creditBalance');
  const organizations = organizationOrder(account, input.organizations);
  const organizationRank = new Map(organizations.map((organization, index) => [organization.id, index]));
  const requireOrganization = (organizationId: string, what: string): void => {
    if (!organizationRank.has(organizationId)) {
      throw new DomainError('INVALID_ACCOUNT', `${what} belongs to organization ${organizationId}, outside this account`, {
        organizationId,
      });
    }
  };

  const contracts = [...(input.contracts ?? [])].sort((a, b) => compareText(a.id, b.id));
  for (const contract of contracts) requireOrganization(contract.organizationId, `contract ${contract.id}`);
  const parentOf = new Map(organizations.map((organization) => [organization.id, organization.parentId]));
  const ancestries = new Map<string, string[]>();
  const ancestryOf = (organizationId: string): string[] => {
    let ancestry = ancestries.get(organizationId);
    if (!ancestry) {
      ancestry = [];
      for (let id: string | null | undefined = organizationId; id != null && !ancestry.includes(id); id = parentOf.get(id)) ancestry.push(id);
      ancestries.set(organizationId, ancestry);
    }
    return ancestry;
  };
  const coverage = contractCoverage(contracts, ancestryOf);

  const subscriptions = new Map<string, ResolvedSubscription>();
  for (const listed of input.subscriptions) {
    const related = contracts.length === 0 ? [] : coverage.related(listed.organizationId);
    const subscription = related.length ? withContractPrices(listed, related, (day) => coverage.on(listed.organizationId, day)) : listed;
    if (subscriptions.has(subscription.id)) {
      throw new DomainError('INVALID_SUBSCRIPTION', `subscription ${subscription.id} listed twice`, { subscriptionId: subscription.id });
    }
    requireOrganization(subscription.organizationId, `subscription ${subscription.id}`);
    const resolved = resolveSubscription(subscription);
    for (const phase of resolved.phases) {
      if (phase.compiled.plan.currency !== account.currency) {
        throw new DomainError('CURRENCY_MISMATCH', `subscription ${subscription.id} is not in ${account.currency}`, {
          subscriptionId: subscription.id,
          currency: phase.compiled.plan.currency,
        });
      }
    }
    subscriptions.set(subscription.id, resolved);
  }

  const usageBySubscription = new Map<string, UsageAggregate[]>();
  for (const aggregate of input.usage ?? []) {
    if (!subscriptions.has(aggregate.subscriptionId)) {
      throw new DomainError('INVALID_USAGE', `usage for unknown subscription ${aggregate.subscriptionId}`, {
        subscriptionId: aggregate.subscriptionId,
      });
    }
    usageBySubscription.set(aggregate.subscriptionId, [...(usageBySubscription.get(aggregate.subscriptionId) ?? []), aggregate]);
  }

  const proposed = new Map<string, InvoiceLine>();
  const propose = (line: InvoiceLine): void => {
    if (proposed.has(line.key)) {
      throw new DomainError('INVALID_PENDING_ITEM', `two items share the key ${line.key}`, { key: line.key });
    }
    proposed.set(line.key, line);
  };
  for (const resolved of subscriptions.values()) {
    const aggregates = usageBySubscription.get(resolved.subscription.id) ?? [];
    checkUsageWindows(resolved, aggregates);
    proposeSubscriptionLines(resolved, aggregates, target)
      .flatMap((line) => allocatedLines(line, resolved.subscription))
      .forEach(propose);
  }
  for (const item of input.pendingItems ?? []) {
    requireOrganization(item.organizationId, `pending item ${item.id}`);
    if (item.subscriptionId !== undefined && !subscriptions.has(item.subscriptionId)) {
      throw new DomainError('INVALID_PENDING_ITEM', `pending item ${item.id} names unknown subscription ${item.subscriptionId}`, {
        id: item.id,
      });
    }
    const line = pendingLine(item);
    if (parseDay(item.effectiveAt ?? item.periodStart) <= target) propose(line);
  }
  // The contracts' terms in their order (contract.ts): discount, then commitment on the discounted charges, then SLA credits and fees.
  const coveredBy = new Map<string, InvoiceLine[]>();
  if (contracts.length) {
    for (const line of proposed.values()) {
      const covering = isChargeLine(line) ? coverage.on(line.organizationId, parseDay(line.periodStart)) : null;
      if (covering) coveredBy.set(covering.id, [...(coveredBy.get(covering.id) ?? []), line]);
    }
  }
  for (const contract of contracts) {
    const covered = coveredBy.get(contract.id) ?? [];
    const discounts = contractDiscountLines({ contract, lines: covered });
    discounts.forEach(propose);
    contractCommitmentLines({ contract, lines: [...covered, ...discounts], target }).forEach(propose);
    contractSlaCreditLines({ contract, lines: covered }).forEach(propose);
    contractTerminationLines({ contract, target }).forEach(propose);
  }

  const billed = new Map<string, BilledItem>();
  for (const invoice of input.priorInvoices ?? []) {
    for (const line of invoice.lines) {
      // Balance credits are the invoice's own, not items; a contract's SLA credit is an item like any other.
      if (line.type === 'tax' || line.key.startsWith('credit:')) continue;
      const entry = billed.get(line.key);
      billed.set(line.key, { line, amount: sumMinor([entry?.amount ?? 0, line.amount]) });
    }
  }

  const coupons = input.coupons ?? [];
  const couponIds = new Set(coupons.map((coupon) => coupon.id));
  // An item derived from a listed subscription or coupon that is billable yet no longer proposed is owed nothing.
  const contractIds = new Set(contracts.map((contract) => contract.id));
  const isObsolete = (key: string, item: BilledItem): boolean => {
    if (proposed.has(key)) return false;
    const owned = key.startsWith('sub:')
      ? item.line.subscriptionId !== undefined && subscriptions.has(item.line.subscriptionId)
      : key.startsWith('contract:')
        ? contractIds.has(key.split(':')[1] ?? '')
        : key.startsWith('coupon:') && item.line.couponId !== undefined && couponIds.has(item.line.couponId);
    return owned && billableDay(item.line) <= target;
  };

  let accountCursor: CalendarCursor | null = null;
  const cursorFor = (coupon: Coupon): CalendarCursor => {
    if (coupon.subscriptionId !== undefined) {
      const resolved = subscriptions.get(coupon.subscriptionId);
      if (resolved === undefined) {
        throw new DomainError('INVALID_COUPON', `coupon ${coupon.id} names unknown subscription ${coupon.subscriptionId}`, {
          couponId: coupon.id,
        });
      }
      return resolved.cursor;
    }
    if (account.calendar === undefined) {
      throw new DomainError('INVALID_COUPON', `coupon ${coupon.id} applies to the account, which needs a calendar`, {
        couponId: coupon.id,
      });
    }
    accountCursor ??= calendarCursor(account.calendar);
    return accountCursor;
  };
  // Coupons see everything billed or about to be billed, so their discount per period is stable across invoices.
  const ledger = [
    ...proposed.values(),
    ...[...billed.entries()]
      .filter(([key, item]) => !proposed.has(key) && !key.startsWith('coupon:') && !isObsolete(key, item))
      .map(([, item]) => ({ ...item.line, amount: item.amount })),
  ];
  proposeCouponLines(coupons, ledger, cursorFor).forEach(propose);

  const delta: InvoiceLine[] = [];
  for (const [key, line] of proposed) {
    const already = billed.get(key)?.amount ?? 0;
    if (line.amount === already) continue;
    delta.push({
      ...line,
      amount: addMinor(line.amount, -already),
      description: already === 0 ? line.description : `Adjustment: ${line.description}`,
    });
  }
  for (const [key, item] of billed) {
    if (item.amount === 0 || !isObsolete(key, item)) continue;
    delta.push({ ...item.line, amount: -item.amount, description: `Reversal: ${item.line.description}` });
  }

  const chargeLines = sortLines(delta.filter(isChargeLine), organizationRank);
  const discountLines = sortLines(
    delta.filter((line) => line.type === 'discount'),
    organizationRank,
  );
  const billedLines = [...chargeLines, ...discountLines];
  const period =
    billedLines.length === 0
      ? { periodStart: input.targetDate, periodEnd: input.targetDate }
      : {
          periodStart: formatDay(Math.min(...billedLines.map((line) => parseDay(line.periodStart)))),
          periodEnd: formatDay(Math.max(...billedLines.map((line) => parseDay(line.periodEnd)))),
        };
  const taxLines = proposeTaxLines(billedLines, organizations, period);
  const termCreditLines = sortLines(
    delta.filter((line) => line.type === 'credit'),
    organizationRank,
  );

  const subtotal = sumMinor(chargeLines.map((line) => line.amount));
  // A contract's SLA credit comes after tax (it does not reduce it) but takes back revenue like a discount: it counts in the discount total.
  const discount = -sumMinor([...discountLines, ...termCreditLines].map((line) => line.amount));
  const tax = sumMinor(taxLines.map((line) => line.amount));
  const beforeCredits = sumMinor([subtotal, -discount, tax]);
  const creditLines: InvoiceLine[] = [];
  const creditCarriedForward = Math.max(0, -beforeCredits);
  const total = beforeCredits + creditCarriedForward;
  if (creditCarriedForward > 0) {
    creditLines.push({
      key: 'credit:carried-forward',
      type: 'credit',
      description: 'Net credit carried to the account balance',
      organizationId: account.organizationId,
      quantity: '1',
      amount: creditCarriedForward,
      ...period,
    });
  }
  const creditApplied = Math.min(creditBalance, total);
  if (creditApplied > 0) {
    creditLines.push({
      key: 'credit:applied',
      type: 'credit',
      description: 'Credit balance applied',
      organizationId: account.organizationId,
      quantity: '1',
      amount: -creditApplied,
      ...period,
    });
  }

  return {
    organizationId: account.organizationId,
    currency: account.currency,
    targetDate: input.targetDate,
    ...period,
    lines: [...billedLines, ...taxLines, ...termCreditLines, ...creditLines],
    subtotal,
    discount: discount === 0 ? 0 : discount,
    tax,
    total,
    creditApplied,
    creditCarriedForward,
    amountDue: total - creditApplied,
    creditBalanceAfter: creditBalance - creditApplied + creditCarriedForward,
  };
}
