import { Context } from '@temporalio/activity';
import { WorkflowUpdateFailedError } from '@temporalio/client';
import type { BudgetPurchase } from '../../budgets/enforcement.js';
import { Organization, Subscription } from '../../db/entities/index.js';
import { createSubscription, latestPlanTerms } from '../../subscriptions/create.js';
import { workflowIds } from '../../temporal/workflow-ids.js';
import { changePlanUpdate, changeSeatsUpdate } from '../../../workflows/messages/subscription.js';
import { ApprovalSubjectRefusal, type ApprovalSubject } from './subject.js';

/**
 * A purchase a budget held for approval (`budget_exception`): once approved it is made, once. A
 * new subscription gets the request's id (a second run finds it); a seat or plan change is the
 * subscription workflow's Update with an id from the request (Temporal applies it once). What can
 * no longer be made (the subscription canceled, the application subscribed meanwhile) is refused.
 */
export const budgetExceptionSubject: ApprovalSubject = {
  subjectTypes: ['budget_exception'],
  async carryOut(tx, request, { clock }) {
    const purchase = request.subjectPayload as unknown as BudgetPurchase;
    const { client, info } = Context.current();
    if (purchase.kind === 'new_subscription') {
      if (await tx.findOne(Subscription, { id: request.id })) return { resultId: request.id, eventIds: [] };
      if (await tx.count(Subscription, { organization: purchase.organizationId, application: purchase.plan.applicationId, canceledAt: null })) {
        throw new ApprovalSubjectRefusal(`subscription_exists: the organization subscribed to the plan's application meanwhile`);
      }
      const organization = await tx.findOneOrFail(Organization, { id: purchase.organizationId });
      await createSubscription(tx, { temporal: client, taskQueue: info.taskQueue, clock }, { ...purchase, organization, id: request.id });
      return { resultId: request.id, eventIds: [] };
    }
    const handle = client.workflow.getHandle(workflowIds.subscription(purchase.subscriptionId));
    const updateId = `budget-exception:${request.id}`;
    try {
      if (purchase.kind === 'seats') {
        await handle.executeUpdate(changeSeatsUpdate, { args: [{ seats: purchase.seats, ...(purchase.effectiveAt ? { effectiveAt: purchase.effectiveAt } : {}) }], updateId });
      } else {
        const plan = (await latestPlanTerms(tx, purchase.plan.code)) ?? purchase.plan;
        await handle.executeUpdate(changePlanUpdate, { args: [{ plan, ...(purchase.timing ? { timing: purchase.timing } : {}), ...(purchase.effectiveAt ? { effectiveAt: purchase.effectiveAt } : {}) }], updateId });
      }
    } catch (error) {
      if (error instanceof WorkflowUpdateFailedError) throw new ApprovalSubjectRefusal(`change_refused: ${error.cause?.message ?? error.message}`);
      throw error;
    }
    return { resultId: purchase.subscriptionId, eventIds: [] };
  },
};
