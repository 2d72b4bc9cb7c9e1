import type { EntityManager } from '@mikro-orm/postgresql';
import type { Client } from '@temporalio/client';
import type { Clock } from '../clock.js';
import { Plan, Subscription, SubscriptionPhase, type Organization } from '../db/entities/index.js';
import { dateOfDay, dayOf, formatDay, initialSnapshot } from '../domain/index.js';
import { workflowIds } from '../temporal/workflow-ids.js';
import type { PlanTerms } from '../../workflows/messages/subscription.js';
import type { subscriptionLifecycle } from '../../workflows/subscription-lifecycle.js';

/** The latest version of a plan, as the fixed-fee terms the workflow prorates with; null when there is none. */
export async function latestPlanTerms(em: EntityManager, code: string): Promise<PlanTerms | null> {
  const plan = await em.findOne(Plan, { code }, { orderBy: { version: 'desc' } });
  if (!plan) return null;
  return {
    id: plan.id,
    code: plan.code,
    name: plan.name,
    version: plan.version,
    applicationId: plan.application.id,
    currency: plan.currency,
    interval: plan.interval,
    basePrice: plan.basePrice,
    seatPrice: plan.seatPrice,
    includedSeats: plan.includedSeats,
    trialDays: plan.trialDays,
  };
}

export interface NewSubscription {
  organization: Organization;
  plan: PlanTerms;
  seats: number;
  departmentId: string | null;
  /** The first day (today or earlier). */
  startDay: number;
  trialDays: number;
  /** Given by the caller when the subscription must be made once however often this runs (an approval's). */
  id?: string;
}

/**
 * Writes a subscription and its first phase in the caller's transaction, and starts its
 * `subscription:<id>` workflow before the commit (the workflow's first write waits on the row):
 * the route's and an approved budget exception's one way to subscribe.
 */
export async function createSubscription(em: EntityManager, deps: { temporal: Client; taskQueue: string; clock: Clock }, input: NewSubscription): Promise<Subscription> {
  const today = dayOf(deps.clock.now().getTime());
  const snapshot = initialSnapshot(
    {
      id: input.id ?? crypto.randomUUID(),
      organizationId: input.organization.id,
      departmentId: input.departmentId,
      plan: input.plan,
      seats: input.seats,
      startDate: formatDay(input.startDay),
      trialDays: input.trialDays,
      billingAnchorDay: input.organization.billingAnchorDay ?? null,
    },
    today,
  );
  const subscription = em.create(Subscription, {
    id: snapshot.id,
    organization: input.organization,
    application: input.plan.applicationId,
    plan: input.plan.id,
    department: snapshot.departmentId,
    status: snapshot.status,
    seats: input.seats,
    startDate: dateOfDay(snapshot.startDate),
    trialEnd: dateOfDay(snapshot.trialEnd),
    billingAnchorDay: snapshot.billingAnchorDay,
    currentPeriodStart: dateOfDay(snapshot.currentPeriodStart),
    currentPeriodEnd: dateOfDay(snapshot.currentPeriodEnd),
    version: 0,
  });
  em.create(SubscriptionPhase, {
    id: crypto.randomUUID(),
    subscription,
    sequence: 0,
    kind: 'start',
    effectiveAt: subscription.startDate,
    plan: input.plan.id,
    seats: input.seats,
    prorationLines: [],
  });
  await em.flush();
  await deps.temporal.workflow.start<typeof subscriptionLifecycle>('subscriptionLifecycle', {
    workflowId: workflowIds.subscription(subscription.id),
    taskQueue: deps.taskQueue,
    args: [{ snapshot }],
  });
  return subscription;
}
