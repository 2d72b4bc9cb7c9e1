import { ActivityFailure, ApplicationFailure, allHandlersFinished, condition, patched, proxyActivities, proxyLocalActivities, setHandler, upsertSearchAttributes } from '@temporalio/workflow';
import type { ApprovalActivities } from '../activities/approvals.js';
import { cancelApproval, cancelRefusalOf, decideApproval, isCarriedOutInWorkflowTask, levelDeadline, recordExecution, refusalOf, timeOutLevel, type ApprovalRefusal, type ApprovalTransition } from '../src/domain/index.js';
import {
  type ApprovalCancelRequest,
  type ApprovalDecisionRequest,
  type ApprovalOrigin,
  type ApprovalRequestState,
  type ApprovalWorkflowInput,
  approvalRefusalFailureType,
  approvalSearchAttributes,
  approvalStateQuery,
  cancelApprovalUpdate,
  decideApprovalUpdate,
} from './messages/approval.js';

const { confirmApprovalRequest } = proxyActivities<ApprovalActivities>({
  startToCloseTimeout: '30 seconds',
  // The API starts the workflow just before its transaction commits: the row shows within moments, or never.
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumAttempts: 8 },
});
const { writeApprovalTransition, executeApprovedSubject } = proxyActivities<ApprovalActivities>({
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '5 minutes' },
});

const { writeApprovalTransition: writeTransitionInTask, carryOutAndRecord } = proxyLocalActivities<ApprovalActivities>({
  // A worker killed mid-write loses its workflow task; the next worker writes again (stale writes are ignored by version).
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute' },
});

/**
 * Since this patch each transition is written by a local activity in the workflow task that makes
 * it, instead of in an activity task of its own: a decision is answered after one database write
 * rather than a round trip through the activity queue and a second workflow task (the approvals
 * benchmark halved its latency). Histories recorded before it wrote with the regular activity.
 */
const transitionsInWorkflowTask = 'approval-transitions-in-workflow-task';

/**
 * Since this patch an approved action that only writes the database (`isCarriedOutInWorkflowTask`)
 * is carried out and recorded by one local activity, in one transaction, in the workflow task of the
 * last decision: no activity task, no further workflow task and one commit fewer per approval.
 */
const executionInWorkflowTask = 'approval-execution-in-workflow-task';

function refuse(refusal: ApprovalRefusal): never {
  throw ApplicationFailure.create({ message: refusal.message, type: approvalRefusalFailureType, nonRetryable: true, details: [{ code: refusal.code }] });
}

const nowIso = () => new Date(Date.now()).toISOString();

/**
 * `approval:<requestId>`: one request through its levels. Decisions are Updates whose validators
 * refuse the ineligible before they enter history; each transition is written to PostgreSQL
 * before it is acknowledged; once approved, the subject's action runs once, keyed by the request id.
 */
export async function approvalRequest(input: ApprovalWorkflowInput): Promise<ApprovalRequestState> {
  let state = input.request;
  let transitions = 0;
  let queueTail: Promise<unknown> = Promise.resolve();
  function exclusive<T>(work: () => Promise<T>): Promise<T> {
    const turn = queueTail.then(work);
    queueTail = turn.catch(() => undefined);
    return turn;
  }

  async function commit(transition: ApprovalTransition, auditAction: string, origin?: ApprovalOrigin): Promise<void> {
    const write = patched(transitionsInWorkflowTask) ? writeTransitionInTask : writeApprovalTransition;
    await write({ state: transition.next, events: transition.events, auditAction, ...(origin ? { origin } : {}) });
    if (transition.next.status !== state.status) upsertSearchAttributes([{ key: approvalSearchAttributes.status, value: transition.next.status }]);
    state = transition.next;
    transitions += 1;
  }

  setHandler(approvalStateQuery, () => state);
  setHandler(
    decideApprovalUpdate,
    (request) =>
      exclusive(async () => {
        // Two decisions of one person admitted together: the second is refused here.
        const refusal = refusalOf(state, request.approver);
        if (refusal) refuse(refusal);
        await commit(decideApproval(state, request.approver, request.decision, request.comment, nowIso()), 'approval_request.decided', request.origin);
        return state;
      }),
    {
      validator: (request: ApprovalDecisionRequest) => {
        const refusal = refusalOf(state, request.approver);
        if (refusal) refuse(refusal);
      },
    },
  );
  setHandler(
    cancelApprovalUpdate,
    ({ userId, origin }) =>
      exclusive(async () => {
        const refusal = cancelRefusalOf(state, userId);
        if (refusal) refuse(refusal);
        await commit(cancelApproval(state, userId, nowIso()), 'approval_request.canceled', origin);
        return state;
      }),
    {
      validator: ({ userId }: ApprovalCancelRequest) => {
        const refusal = cancelRefusalOf(state, userId);
        if (refusal) refuse(refusal);
      },
    },
  );

  try {
    await confirmApprovalRequest(state.id);
  } catch (error) {
    if (error instanceof ActivityFailure) return state;
    throw error;
  }

  while (state.status === 'pending') {
    const seen = transitions;
    const deadline = levelDeadline(state);
    const changed = deadline === null ? (await condition(() => transitions !== seen), true) : await condition(() => transitions !== seen, Math.max(deadline - Date.now(), 1));
    if (!changed) {
      await exclusive(async () => {
        if (transitions === seen) await commit(timeOutLevel(state, nowIso()), 'approval_request.timed_out');
      });
    }
  }

  if (state.status === 'approved') {
    if (isCarriedOutInWorkflowTask(state.subjectType) && patched(executionInWorkflowTask)) {
      // The activity wrote this very state with the action, in one transaction.
      await exclusive(async () => {
        state = recordExecution(state, await carryOutAndRecord(state));
        transitions += 1;
      });
    } else {
      const result = await executeApprovedSubject({ requestId: state.id, subjectType: state.subjectType });
      await exclusive(() => commit({ next: recordExecution(state, { ...result, at: nowIso() }), events: [] }, 'approval_request.executed'));
    }
  }
  await condition(allHandlersFinished);
  return state;
}
