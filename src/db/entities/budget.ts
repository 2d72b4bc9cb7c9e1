import { defineEntity, p } from '@mikro-orm/core';
import { budgetEnforcements, budgetPeriods, type CostAllocation } from '../../domain/index.js';
import { Department } from './department.js';
import { Organization } from './organization.js';
import { Subscription } from './subscription.js';

export { budgetEnforcements, budgetPeriods } from '../../domain/index.js';

/** A spending limit for an organization (or one of its departments) per calendar month, quarter or year. */
const BudgetSchema = defineEntity({
  name: 'Budget',
  tableName: 'budgets',
  properties: {
    id: p.uuid().primary(),
    organization: () => p.manyToOne(Organization).deleteRule('cascade'),
    department: () => p.manyToOne(Department).deleteRule('cascade').nullable(),
    name: p.string().length(200),
    period: p.enum(budgetPeriods),
    amount: p.bigint('number'),
    currency: p.string().length(3),
    alertThresholds: p.json<number[]>(),
    enforcement: p.enum(budgetEnforcements),
    createdBy: p.string().length(200),
    createdAt: p.datetime(),
    updatedAt: p.datetime(),
  },
  indexes: [{ name: 'budgets_organization_index', properties: ['organization'] }],
  checks: [{ name: 'budgets_amount_non_negative', expression: '"amount" >= 0' }],
});

export class Budget extends BudgetSchema.class {}
BudgetSchema.setClass(Budget);

/** A threshold crossed in one budget period: the unique key is what makes each fire once. */
const BudgetAlertSchema = defineEntity({
  name: 'BudgetAlert',
  tableName: 'budget_alerts',
  properties: {
    id: p.uuid().primary(),
    budget: () => p.manyToOne(Budget).deleteRule('cascade'),
    periodStart: p.datetime(),
    threshold: p.integer(),
    crossedAt: p.datetime(),
    /** What was used (spent + pending) when it fired. */
    spent: p.bigint('number'),
  },
  uniques: [{ name: 'budget_alerts_once_per_period', properties: ['budget', 'periodStart', 'threshold'] }],
});

export class BudgetAlert extends BudgetAlertSchema.class {}
BudgetAlertSchema.setClass(BudgetAlert);

/** How a subscription's charges split across departments from `effectiveFrom` (a billing day) on. */
const CostAllocationSchema = defineEntity({
  name: 'SubscriptionCostAllocation',
  tableName: 'subscription_cost_allocations',
  properties: {
    subscription: () => p.manyToOne(Subscription).primary().deleteRule('cascade'),
    effectiveFrom: p.datetime().primary(),
    allocations: p.json<CostAllocation[]>(),
    createdAt: p.datetime(),
  },
});

export class SubscriptionCostAllocation extends CostAllocationSchema.class {}
CostAllocationSchema.setClass(SubscriptionCostAllocation);
