import { ActivityFailure, ApplicationFailure, allHandlersFinished, condition, executeChild, getExternalWorkflowHandle, proxyLocalActivities, proxyActivities, setHandler, upsertSearchAttributes } from '@temporalio/workflow';
import { answering, loadRowOptions, outsideCallRetry, stepOptions, turns, updateStepOptions } from './update-steps.js';
import type { DisputeActivities } from '../activities/disputes.js';
import { commentRefusal, isActiveDispute, withdrawalRefusal, type DisputeRefusal } from '../src/domain/index.js';
import { approvalRequest } from './approval.js';
import { approvalSearchAttributes, type ApprovalWorkflowInput } from './messages/approval.js';
import {
  commentOnDisputeUpdate,
  disputeRefusalFailureType,
  disputeSearchAttributes,
  disputeStateQuery,
  resolveDisputeUpdate,
  withdrawDisputeUpdate,
  type DisputeCommentRequest,
  type DisputeResolveRequest,
  type DisputeState,
  type DisputeWithdrawRequest,
  type DisputeWorkflowInput,
} from './messages/dispute.js';
import { disputeChangedSignal } from './messages/payment.js';

const { loadDispute } = proxyLocalActivities<DisputeActivities>(loadRowOptions);
// Database steps, recorded in the workflow's own task: the saga's until they happen, an update's a few times.
const { returnDisputeToReview, creditDispute, recordDisputeRefund, voidDisputeRefund, failDisputeResolution } = proxyLocalActivities<DisputeActivities>(stepOptions);
const { commentOnDispute, withdrawDispute, planDisputeResolution } = proxyLocalActivities<DisputeActivities>(updateStepOptions);
// Outside services go through the activity queue: Stripe and the ERP hook.
const { refundDispute, syncDisputeToErp } = proxyActivities<DisputeActivities>({
  // Past the Stripe client's own 20 s timeout: a worker lost mid-refund is retried within half a minute, with the same key.
  startToCloseTimeout: '30 seconds',
  retry: outsideCallRetry,
});

/** What a dispute's steps refuse with: answered by the API as the update's problem. */
const refusals = [disputeRefusalFailureType];

function refuse(refusal: DisputeRefusal): never {
  throw ApplicationFailure.create({ message: refusal.message, type: disputeRefusalFailureType, nonRetryable: true, details: [{ code: refusal.code, status: refusal.status, details: refusal.details }] });
}

/**
 * `dispute:<id>`: one customer dispute of an invoice, from opening to its end. While it is active
 * the invoice's `payment:` workflow holds collection (told by signal; it reads the disputes with
 * the invoice). Comments, withdrawal and resolution arrive as Updates whose validators refuse what
 * the dispute's status does not allow. A resolution runs as a saga: (approval, as a child
 * workflow) → credit note → Stripe refund → journal → `dispute.resolved` → ERP hook; a refund
 * Stripe refuses for good voids its credit note and returns the dispute to review.
 */
export async function disputeToRefund(input: DisputeWorkflowInput): Promise<DisputeState> {
  // Until the row is read, the state is a placeholder and validators admit every message: the
  // handlers, registered before the first await (an update arriving meanwhile must find them), wait
  // for the read in their turn and judge then.
  let loaded = false;
  let state: DisputeState = placeholderOf(input.disputeId);
  const load = (async () => {
    state = await loadDispute(input.disputeId);
    loaded = true;
  })();
  let pending: DisputeResolveRequest | null = null;
  /** Bumped when a resolution has been carried out, waits for approval, or failed: what the resolve update waits for. */
  let resolutions = 0;
  const exclusive = turns(load);

  function take(next: DisputeState): void {
    if (next.status !== state.status) upsertSearchAttributes([{ key: disputeSearchAttributes.status, value: next.status }]);
    state = next;
  }

  async function tellCollection(): Promise<void> {
    try {
      await getExternalWorkflowHandle(`payment:${state.invoiceId}`).signal(disputeChangedSignal, { disputeId: state.id });
    } catch {
      // No collection runs for the invoice (paid and past Stripe's window, or never started): nothing to pause.
    }
  }

  const resolvable = () => (state.status === 'open' || state.status === 'under_review') && pending === null;

  setHandler(disputeStateQuery, () => state);
  setHandler(
    commentOnDisputeUpdate,
    (request: DisputeCommentRequest) =>
      exclusive(async () => {
        const answer = await answering(commentOnDispute({ ...request, disputeId: state.id }), refusals);
        take(answer.state);
        return answer;
      }),
    {
      validator: (_request: DisputeCommentRequest) => {
        const refusal = loaded ? commentRefusal(state.status) : null;
        if (refusal) refuse(refusal);
      },
    },
  );
  setHandler(
    withdrawDisputeUpdate,
    (request: DisputeWithdrawRequest) =>
      exclusive(async () => {
        const refusal = pending === null ? withdrawalRefusal(state.status) : withdrawalRefusal('pending_approval');
        if (refusal) refuse(refusal);
        take(await answering(withdrawDispute({ ...request, disputeId: state.id }), refusals));
        return state;
      }),
    {
      validator: (_request: DisputeWithdrawRequest) => {
        if (!loaded) return;
        const refusal = pending === null ? withdrawalRefusal(state.status) : withdrawalRefusal('pending_approval');
        if (refusal) refuse(refusal);
      },
    },
  );
  setHandler(
    resolveDisputeUpdate,
    async (request: DisputeResolveRequest) => {
      const seen = resolutions;
      await exclusive(async () => {
        if (!resolvable()) refuse({ code: 'dispute_not_resolvable', status: 409, message: `The dispute is ${state.status}; only an open dispute or one under review can be resolved.`, details: { disputeStatus: state.status } });
        const plan = await answering(planDisputeResolution({ ...request, disputeId: state.id }), refusals);
        take(plan.state);
        if (state.status === 'rejected') {
          resolutions += 1;
          return;
        }
        pending = request;
        if (plan.approval) void runApproval(plan.approval);
      });
      await condition(() => resolutions !== seen || state.status === 'pending_approval');
      return state;
    },
    {
      validator: (_request: DisputeResolveRequest) => {
        if (loaded && !resolvable()) refuse({ code: 'dispute_not_resolvable', status: 409, message: `The dispute is ${state.status}; only an open dispute or one under review can be resolved.`, details: { disputeStatus: state.status } });
      },
    },
  );

  /** The approval runs as a child; approved, the resolution is carried out, otherwise the dispute is back under review. */
  const approval: { outcome: Promise<'approved' | 'not_approved'> | null } = { outcome: null };
  function runApproval(request: ApprovalWorkflowInput['request']): Promise<'approved' | 'not_approved'> {
    approval.outcome = (async () => {
      const decided = await executeChild(approvalRequest, {
        workflowId: `approval:${request.id}`,
        args: [{ request }],
        typedSearchAttributes: [
          { key: approvalSearchAttributes.organizationId, value: request.organizationId },
          { key: approvalSearchAttributes.subjectType, value: request.subjectType },
          { key: approvalSearchAttributes.status, value: request.status },
        ],
      });
      if (decided.status === 'approved') return 'approved' as const;
      await exclusive(async () => {
        take(await returnDisputeToReview({ disputeId: state.id, approvalStatus: decided.status }));
        pending = null;
        resolutions += 1;
      });
      return 'not_approved' as const;
    })();
    return approval.outcome;
  }

  /** The saga of a credit or refund that may go ahead. */
  async function carryOut(): Promise<void> {
    const step = await creditDispute(state.id);
    if (step.kind === 'refused') {
      take(await failDisputeResolution({ disputeId: state.id, failure: step.failure }));
      return;
    }
    if (step.kind === 'refund') {
      const refund = await refundDispute({ disputeId: state.id, creditNoteId: step.creditNoteId, paymentIntentId: step.paymentIntentId, amount: step.amount });
      if ('failure' in refund) {
        // Compensation: the note never credited anything; it is voided and the dispute is reviewed again.
        take(await voidDisputeRefund({ disputeId: state.id, creditNoteId: step.creditNoteId, failure: refund.failure }));
        return;
      }
      take(await recordDisputeRefund({ disputeId: state.id, creditNoteId: step.creditNoteId, stripeRefundId: refund.stripeRefundId }));
    } else {
      take(step.state);
    }
    await syncDisputeToErp(state.id);
  }

  try {
    await load;
  } catch (error) {
    // The API's transaction rolled back: there is no dispute to follow.
    if (error instanceof ActivityFailure) throw ApplicationFailure.nonRetryable(`dispute ${input.disputeId} was never committed`, 'DisputeMissing');
    throw error;
  }
  upsertSearchAttributes([{ key: disputeSearchAttributes.status, value: state.status }]);
  await tellCollection();
  while (isActiveDispute(state.status)) {
    await condition(() => pending !== null || !isActiveDispute(state.status));
    if (pending === null) break;
    // The update that planned the approval started its child before setting `pending`.
    if (state.status === 'pending_approval' && approval.outcome !== null && (await approval.outcome) !== 'approved') continue;
    await exclusive(async () => {
      await carryOut();
      pending = null;
      resolutions += 1;
    });
    approval.outcome = null;
  }
  await tellCollection();
  await condition(allHandlersFinished);
  return state;
}

/** What the workflow holds until it has read its dispute. */
function placeholderOf(disputeId: string): DisputeState {
  return {
    id: disputeId,
    invoiceId: '',
    organizationId: '',
    source: 'customer',
    amount: 0,
    currency: '',
    status: 'open',
    resolution: null,
    approvalRequestId: null,
    creditNoteId: null,
    stripeRefundId: null,
    lastFailure: null,
    resolvedAt: null,
  };
}
