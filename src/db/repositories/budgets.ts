import type { EntityManager } from '@mikro-orm/postgresql';
import { dateOfDay } from '../../domain/index.js';
import { Budget } from '../entities/index.js';
import { sql } from '../sql.js';
import { recordWebhookEvent } from './webhook-events.js';

/** What finalized invoices billed to a scope for the period: its lines that started in it, tax and balance credits left out. */
export async function spentInPeriod(em: EntityManager, scope: { organizationId: string; departmentId: string | null; start: string; end: string }): Promise<number> {
  const [row] = await sql<{ spent: string | null }>(
    em,
    `select sum(l.amount) as spent from invoice_lines l join invoices i on i.id = l.invoice_id
      where i.status in ('open', 'paid', 'uncollectible') and l.organization_id = $1 and ($2::uuid is null or l.department_id = $2::uuid)
        and l.type <> 'tax' and l.key not like 'credit:%' and l.period_start >= $3 and l.period_start < $4`,
    [scope.organizationId, scope.departmentId, dateOfDay(scope.start), dateOfDay(scope.end)],
  );
  return Number(row?.spent ?? 0);
}

export async function firedThresholds(em: EntityManager, budgetId: string, periodStart: string): Promise<number[]> {
  const rows = await sql<{ threshold: number }>(em, 'select threshold from budget_alerts where budget_id = $1 and period_start = $2 order by threshold', [budgetId, dateOfDay(periodStart)]);
  return rows.map((row) => row.threshold);
}

/**
 * Records the thresholds crossed in the period and their `budget.threshold_crossed` events; a
 * threshold another transaction recorded first is left alone (the unique key), so each fires once.
 */
export async function recordBudgetAlerts(em: EntityManager, budget: Budget, periodStart: string, thresholds: readonly number[], used: number, now: Date): Promise<string[]> {
  const eventIds: string[] = [];
  for (const threshold of thresholds) {
    const [inserted] = await sql<{ id: string }>(
      em,
      `insert into budget_alerts (id, budget_id, period_start, threshold, crossed_at, spent) values (gen_random_uuid(), $1, $2, $3, $4, $5)
       on conflict (budget_id, period_start, threshold) do nothing returning id`,
      [budget.id, dateOfDay(periodStart), threshold, now, used],
    );
    if (!inserted) continue;
    eventIds.push(
      await recordWebhookEvent(em, {
        organizationId: budget.organization.id,
        type: 'budget.threshold_crossed',
        data: { budgetId: budget.id, name: budget.name, departmentId: budget.department?.id ?? null, periodStart, threshold, amount: budget.amount, spent: used, currency: budget.currency, crossedAt: now.toISOString() },
        dedupeKey: `budget.threshold_crossed:${budget.id}:${periodStart}:${threshold}`,
      }),
    );
  }
  return eventIds;
}

export async function alertsOf(em: EntityManager, budgetId: string): Promise<{ threshold: number; periodStart: string; crossedAt: string; spent: number }[]> {
  const rows = await sql<{ threshold: number; period_start: string; crossed_at: string; spent: string }>(
    em,
    `select threshold, to_char(period_start at time zone 'UTC', 'YYYY-MM-DD') as period_start,
            to_char(crossed_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') as crossed_at, spent
       from budget_alerts where budget_id = $1 order by period_start, threshold`,
    [budgetId],
  );
  return rows.map((row) => ({ threshold: row.threshold, periodStart: row.period_start, crossedAt: row.crossed_at, spent: Number(row.spent) }));
}

/** Every organization that has a budget. */
export async function organizationsWithBudgets(em: EntityManager): Promise<string[]> {
  return (await sql<{ organization_id: string }>(em, 'select distinct organization_id from budgets order by organization_id')).map((row) => row.organization_id);
}

/** The budgets of any of the organizations. */
export function budgetsOfOrganizations(em: EntityManager, organizationIds: readonly string[]): Promise<Budget[]> {
  return em.find(Budget, { organization: { $in: [...organizationIds] } }, { orderBy: { createdAt: 'asc', id: 'asc' } });
}

/** The budgets of the organization (its own, and its departments'). */
export function budgetsOf(em: EntityManager, organizationId: string): Promise<Budget[]> {
  return em.find(Budget, { organization: organizationId }, { orderBy: { createdAt: 'asc', id: 'asc' } });
}

export function budgetView(budget: Budget) {
  return {
    id: budget.id,
    organizationId: budget.organization.id,
    departmentId: budget.department?.id ?? null,
    name: budget.name,
    period: budget.period,
    amount: budget.amount,
    currency: budget.currency,
    alertThresholds: budget.alertThresholds,
    enforcement: budget.enforcement,
    createdAt: budget.createdAt.toISOString(),
    updatedAt: budget.updatedAt.toISOString(),
  };
}
