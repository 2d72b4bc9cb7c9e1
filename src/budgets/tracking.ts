import type { EntityManager } from '@mikro-orm/postgresql';
import type { Budget } from '../db/entities/index.js';
import { loadBillingAccount, upcomingBillingDay } from '../db/repositories/billing.js';
import { firedThresholds, recordBudgetAlerts, spentInPeriod } from '../db/repositories/budgets.js';
import { budgetPeriodOf, computeInvoice, linesInBudget, recurringAndUsage, sumMinor, thresholdsToFire, trackBudget, type BudgetTracking, type ComputeInvoiceInput, type InvoiceLine } from '../domain/index.js';

/** What an organization's next invoice would bill now: the domain's own preview, on the billing day the cycle closes next, with the usage recorded so far. */
async function previewInput(em: EntityManager, organizationId: string, today: string): Promise<ComputeInvoiceInput | null> {
  return (await loadBillingAccount(em, organizationId, await upcomingBillingDay(em, organizationId, today)))?.input ?? null;
}

export async function previewLines(em: EntityManager, organizationId: string, today: string): Promise<InvoiceLine[]> {
  const input = await previewInput(em, organizationId, today);
  return input ? computeInvoice(input).lines : [];
}

/** The next invoice's preview without and with a purchase, from one read of the account. */
export async function previewsWith(em: EntityManager, organizationId: string, today: string, change: (input: ComputeInvoiceInput) => ComputeInvoiceInput): Promise<{ before: InvoiceLine[]; after: InvoiceLine[] }> {
  const input = await previewInput(em, organizationId, today);
  if (!input) return { before: [], after: [] };
  return { before: computeInvoice(input).lines, after: computeInvoice(change(input)).lines };
}

const scopeOf = (budget: Budget, today: string) => ({
  organizationId: budget.organization.id,
  departmentId: budget.department?.id ?? null,
  period: budgetPeriodOf(budget.period, today),
});

/** Where a budget stands today: spent by finalized invoices, pending from the preview, and the forecast. */
export async function trackingOf(em: EntityManager, budget: Budget, today: string, preview?: readonly InvoiceLine[]): Promise<BudgetTracking> {
  const scope = scopeOf(budget, today);
  const spent = await spentInPeriod(em, { organizationId: scope.organizationId, departmentId: scope.departmentId, start: scope.period.start, end: scope.period.end });
  const pending = recurringAndUsage(linesInBudget(preview ?? (await previewLines(em, scope.organizationId, today)), scope));
  return trackBudget({ amount: budget.amount, period: scope.period, today, spent, pending, thresholds: budget.alertThresholds });
}

/** What a purchase adds to a budget's period: the preview with it, less the preview without it. */
export async function addedCostOf(em: EntityManager, budget: Budget, today: string, { before, after }: { before: readonly InvoiceLine[]; after: readonly InvoiceLine[] }): Promise<{ addedCost: number; tracking: BudgetTracking }> {
  const scope = scopeOf(budget, today);
  const total = (lines: readonly InvoiceLine[]) => sumMinor(linesInBudget(lines, scope).map((line) => line.amount));
  return { addedCost: total(after) - total(before), tracking: await trackingOf(em, budget, today, before) };
}

/** Fires each budget's thresholds its use has reached this period and that have not fired yet; returns the events to dispatch. */
export async function evaluateBudgets(em: EntityManager, budgets: readonly Budget[], today: string, now: Date): Promise<string[]> {
  if (budgets.length === 0) return [];
  const previews = new Map<string, InvoiceLine[]>();
  const eventIds: string[] = [];
  for (const budget of budgets) {
    const organizationId = budget.organization.id;
    if (!previews.has(organizationId)) previews.set(organizationId, await previewLines(em, organizationId, today));
    const tracking = await trackingOf(em, budget, today, previews.get(organizationId));
    const used = tracking.spent + tracking.pending;
    const crossed = thresholdsToFire(budget.alertThresholds, used, budget.amount, await firedThresholds(em, budget.id, tracking.periodStart));
    eventIds.push(...(await recordBudgetAlerts(em, budget, tracking.periodStart, crossed, used, now)));
  }
  return eventIds;
}
