import { z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { applicableApprovalRule, openApprovalRequest } from '../../approvals/open.js';
import { purchaseVerdict, type BudgetPurchase } from '../../budgets/enforcement.js';
import { formatDayOf } from '../../domain/index.js';
import { workflowIds } from '../../temporal/workflow-ids.js';
import { dispatchWebhookEvents } from '../../webhooks/outbox.js';
import { actingUserId } from '../auth/policy.js';
import { audit } from './audit.js';
import type { AppEnv } from './context.js';
import { ApiError } from './problem.js';
import { jsonResponse } from './schemas.js';

export const BudgetHoldSchema = z
  .object({
    status: z.literal('pending_approval'),
    approvalRequestId: z.uuid().openapi({ description: 'The budget_exception request; the purchase is made once it is approved, never if not.' }),
    workflowId: z.string(),
    budgetId: z.uuid(),
    amount: z.number().int(),
    forecast: z.number().int().openapi({ description: "The budget's forecast with the purchase." }),
    addedCost: z.number().int(),
  })
  .openapi('BudgetHold');

export const budgetHoldResponse = { 202: jsonResponse("Over a budget whose enforcement is `approval`: waiting for a budget exception's approval", BudgetHoldSchema) };

/** A budget exception's levels when no `budget_exception` rule names them: the organization's OWNERs, one of whom decides. */
const defaultLevels = [{ role: 'OWNER' as const, approvers: [], quorum: 1, timeoutHours: null, onTimeout: null }];

/**
 * Weighs a purchase against the organization's budgets before it is made: under `block` a purchase
 * that takes a forecast past its amount is refused (422 `budget_exceeded`, nothing changed); under
 * `approval` it opens a `budget_exception` request, which makes the purchase once approved, and the
 * caller answers 202 with what this returns. Null: go ahead.
 */
export async function holdForBudget(c: Context<AppEnv>, purchase: BudgetPurchase) {
  const { em, clock, temporal, config, principal } = c.var;
  const verdict = await purchaseVerdict(em, purchase, formatDayOf(clock.now().getTime()));
  if (verdict.decision === 'allow') return null;
  const facts = { budgetId: verdict.budget.id, amount: verdict.amount, forecast: verdict.forecast, addedCost: verdict.addedCost };
  if (verdict.decision === 'block') {
    throw new ApiError(422, 'budget_exceeded', `Budget ${verdict.budget.name} would be exceeded: its forecast of ${verdict.forecast} with this purchase is above its ${verdict.amount}.`, undefined, undefined, facts);
  }
  const subject = { subjectType: 'budget_exception' as const, organizationId: purchase.organizationId, amount: verdict.addedCost, currency: verdict.budget.currency };
  const rule = await applicableApprovalRule(em, subject);
  const { request, eventIds } = await openApprovalRequest(
    em,
    { temporal, taskQueue: config.TEMPORAL_TASK_QUEUE, now: clock.now() },
    {
      ...subject,
      id: crypto.randomUUID(),
      subjectId: purchase.kind === 'new_subscription' ? null : purchase.subscriptionId,
      payload: { ...purchase },
      title: `Budget exception: ${purchase.kind === 'new_subscription' ? 'a new subscription' : purchase.kind === 'seats' ? `${purchase.seats} seats` : 'a plan change'} over budget ${verdict.budget.name}`,
      description: null,
      requestedBy: actingUserId(principal),
      ruleId: rule?.id ?? null,
      levels: rule?.levels ?? defaultLevels,
    },
  );
  const view = { status: 'pending_approval' as const, approvalRequestId: request.id, workflowId: workflowIds.approval(request.id), ...facts };
  audit(c, { action: 'budget_exception.requested', organizationId: purchase.organizationId, targetType: 'approval_request', targetId: request.id, after: view });
  c.var.afterCommit(() => dispatchWebhookEvents({ temporal, taskQueue: config.TEMPORAL_TASK_QUEUE, orm: c.var.orm, logger: c.var.logger }, eventIds));
  return view;
}
