import { defineEntity, p } from '@mikro-orm/core';
import type { InvoiceLine } from '../../domain/index.js';
import { Application } from './application.js';
import { Department } from './department.js';
import { Organization } from './organization.js';
import { Plan } from './plan.js';

const subscriptionStatusValues = ['trialing', 'active', 'past_due', 'paused', 'canceled'] as const;
export type SubscriptionStatus = (typeof subscriptionStatusValues)[number];
const subscriptionPhaseKindValues = ['start', 'plan_change', 'seat_change'] as const;

/**
 * The PostgreSQL mirror of one `subscription:<id>` workflow, which is the source of truth: the
 * workflow's activities write every transition here (newer `version` wins), and reads — above
 * all seat verification — never ask Temporal. Billing days are stored as UTC midnights.
 */
const SubscriptionSchema = defineEntity({
  name: 'Subscription',
  tableName: 'subscriptions',
  properties: {
    id: p.uuid().primary(),
    organization: () => p.manyToOne(Organization).deleteRule('restrict'),
    /** The plan's application, kept here so verification finds the subscription in one index. */
    application: () => p.manyToOne(Application).deleteRule('restrict'),
    /** The plan version in effect today. */
    plan: () => p.manyToOne(Plan).deleteRule('restrict'),
    department: () => p.manyToOne(Department).deleteRule('set null').nullable(),
    status: p.enum(subscriptionStatusValues),
    /** Seats purchased today; assignments never exceed them. */
    seats: p.integer(),
    startDate: p.datetime(),
    /** First paid day (equal to startDate without a trial). */
    trialEnd: p.datetime(),
    billingAnchorDay: p.integer().nullable(),
    currentPeriodStart: p.datetime(),
    currentPeriodEnd: p.datetime(),
    /** First day no longer subscribed: access ends then. */
    cancelAt: p.datetime().nullable(),
    canceledAt: p.datetime().nullable(),
    pausedAt: p.datetime().nullable(),
    pastDueSince: p.datetime().nullable(),
    /**
     * Usage before this instant is invoiced: events for it are refused (late-usage policy,
     * docs/billing-rules.md). The billing cycle moves it forward when it closes a period.
     */
    usageClosedThrough: p.datetime().nullable(),
    /** The workflow's transition counter; a late or repeated write of an older state is ignored. */
    version: p.integer(),
    createdAt: p.datetime().onCreate(() => new Date()),
    updatedAt: p.datetime().onCreate(() => new Date()),
  },
  indexes: [
    { name: 'subscriptions_organization_application_index', properties: ['organization', 'application'] },
    { name: 'subscriptions_plan_id_index', properties: ['plan'] },
  ],
  // Backstop for "never more assigned than purchased" (see seat_assignments_within_purchased).
  triggers: [
    {
      name: 'subscriptions_seats_cover_assignments',
      timing: 'before',
      events: ['update'],
      forEach: 'row',
      body: `if new.seats < old.seats and (select count(*) from seat_assignments where subscription_id = new.id) > new.seats then
          raise exception 'subscription % has more seats assigned than %', new.id, new.seats
            using errcode = 'check_violation', constraint = 'subscriptions_seats_cover_assignments';
        end if;
        return new;`,
    },
  ],
  checks: [
    { name: 'subscriptions_seats_non_negative', expression: '"seats" >= 0' },
    { name: 'subscriptions_period_order', expression: '"current_period_end" > "current_period_start"' },
  ],
});

export class Subscription extends SubscriptionSchema.class {}
SubscriptionSchema.setClass(Subscription);

/**
 * One entry of a subscription's append-only history: the terms from `effectiveAt` on. The
 * proration lines are the domain's credit and debit for the change, kept for display; invoices
 * derive them again from the phases, so they are never billed from here.
 */
const SubscriptionPhaseSchema = defineEntity({
  name: 'SubscriptionPhase',
  tableName: 'subscription_phases',
  properties: {
    id: p.uuid().primary(),
    subscription: () => p.manyToOne(Subscription).deleteRule('cascade'),
    sequence: p.integer(),
    kind: p.enum(subscriptionPhaseKindValues),
    effectiveAt: p.datetime(),
    plan: () => p.manyToOne(Plan).deleteRule('restrict'),
    seats: p.integer(),
    prorationLines: p.json<InvoiceLine[]>(),
    createdAt: p.datetime().onCreate(() => new Date()),
  },
  uniques: [{ name: 'subscription_phases_subscription_sequence_unique', properties: ['subscription', 'sequence'] }],
  indexes: [{ name: 'subscription_phases_plan_id_index', properties: ['plan'] }],
  checks: [{ name: 'subscription_phases_seats_non_negative', expression: '"seats" >= 0' }],
});

export class SubscriptionPhase extends SubscriptionPhaseSchema.class {}
SubscriptionPhaseSchema.setClass(SubscriptionPhase);

/** A named user's seat; one per user per subscription, never more than the subscription's seats. */
const SeatAssignmentSchema = defineEntity({
  name: 'SeatAssignment',
  tableName: 'seat_assignments',
  properties: {
    id: p.uuid().primary(),
    subscription: () => p.manyToOne(Subscription).deleteRule('cascade'),
    userId: p.string().length(200),
    assignedBy: p.string().length(200),
    assignedAt: p.datetime(),
  },
  uniques: [{ name: 'seat_assignments_subscription_user_unique', properties: ['subscription', 'userId'] }],
  // Locks the subscription row, so concurrent assignments (and seat reductions, which update
  // that row) serialize and the count below is exact whatever the caller does.
  triggers: [
    {
      name: 'seat_assignments_within_purchased',
      timing: 'before',
      events: ['insert'],
      forEach: 'row',
      body: `perform 1 from subscriptions where id = new.subscription_id for update;
        if (select count(*) from seat_assignments where subscription_id = new.subscription_id)
            >= (select seats from subscriptions where id = new.subscription_id) then
          raise exception 'subscription % has all its seats assigned', new.subscription_id
            using errcode = 'check_violation', constraint = 'seat_assignments_within_purchased';
        end if;
        return new;`,
    },
  ],
});

export class SeatAssignment extends SeatAssignmentSchema.class {}
SeatAssignmentSchema.setClass(SeatAssignment);
