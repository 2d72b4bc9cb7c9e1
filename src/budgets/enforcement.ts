import type { EntityManager } from '@mikro-orm/postgresql';
import type { Budget } from '../db/entities/index.js';
import { budgetsOf } from '../db/repositories/budgets.js';
import { budgetVerdict, formatDay, type ComputeInvoiceInput, type Plan, type Subscription } from '../domain/index.js';
import type { PlanTerms } from '../../workflows/messages/subscription.js';
import { addedCostOf, previewsWith } from './tracking.js';

/** A purchase weighed against the organization's budgets: what a budget exception carries out once approved. */
export type BudgetPurchase =
  | { kind: 'new_subscription'; organizationId: string; departmentId: string | null; plan: PlanTerms; seats: number; startDay: number; trialDays: number }
  | { kind: 'seats'; organizationId: string; departmentId: string | null; subscriptionId: string; seats: number; effectiveAt: string | null }
  | { kind: 'plan'; organizationId: string; departmentId: string | null; subscriptionId: string; plan: PlanTerms; timing: 'immediate' | 'period_end' | null; effectiveAt: string | null };

export type PurchaseVerdict = { decision: 'allow' } | { decision: 'approval' | 'block'; budget: Budget; forecast: number; addedCost: number; amount: number };

const planWith = (base: Plan, terms: PlanTerms): Plan => ({ ...base, code: terms.code, name: terms.name, basePrice: terms.basePrice, seatPrice: terms.seatPrice, includedSeats: terms.includedSeats });

/** The purchase applied to the next invoice's input, as the domain will bill it. */
function withPurchase(purchase: BudgetPurchase, today: string): (input: ComputeInvoiceInput) => ComputeInvoiceInput {
  return (input) => {
    if (purchase.kind === 'new_subscription') {
      const startDate = formatDay(purchase.startDay);
      const added: Subscription = {
        id: 'budget-check',
        organizationId: purchase.organizationId,
        ...(purchase.departmentId ? { departmentId: purchase.departmentId } : {}),
        startDate,
        trialEndDate: formatDay(purchase.startDay + purchase.trialDays),
        phases: [{ effectiveAt: startDate, plan: { ...purchase.plan, charges: [] }, seats: purchase.seats }],
      };
      return { ...input, subscriptions: [...input.subscriptions, added] };
    }
    const effectiveAt = purchase.effectiveAt ?? today;
    return {
      ...input,
      subscriptions: input.subscriptions.map((subscription) => {
        const last = subscription.phases.at(-1);
        if (subscription.id !== purchase.subscriptionId || !last || last.effectiveAt > effectiveAt) return subscription;
        const phase = purchase.kind === 'seats' ? { effectiveAt, plan: last.plan, seats: purchase.seats } : { effectiveAt, plan: planWith(last.plan, purchase.plan), seats: last.seats };
        return { ...subscription, phases: [...subscription.phases, phase] };
      }),
    };
  };
}

/**
 * Whether the organization's budgets let a purchase go ahead: for each budget with enforcement in
 * its scope, the purchase's added cost in the budget's period (the preview with it, less without)
 * on top of the forecast. A budget that blocks outranks one that asks for approval.
 */
export async function purchaseVerdict(em: EntityManager, purchase: BudgetPurchase, today: string): Promise<PurchaseVerdict> {
  const budgets = (await budgetsOf(em, purchase.organizationId)).filter(
    (budget) => budget.enforcement !== 'none' && (budget.department === null || budget.department === undefined || budget.department.id === purchase.departmentId),
  );
  let held: PurchaseVerdict = { decision: 'allow' };
  if (budgets.length === 0) return held;
  // The budgets are the purchasing organization's: one pair of previews serves them all.
  const previews = await previewsWith(em, purchase.organizationId, today, withPurchase(purchase, today));
  for (const budget of budgets) {
    const { addedCost, tracking } = await addedCostOf(em, budget, today, previews);
    const verdict = budgetVerdict(budget.enforcement, tracking, addedCost);
    if (verdict.decision === 'allow') continue;
    if (held.decision === 'allow' || (verdict.decision === 'block' && held.decision === 'approval')) held = { ...verdict, budget };
  }
  return held;
}
