import { defineQuery, defineUpdate } from '@temporalio/workflow';
import type { ApprovalRequestState, ApprovalSubjectType, ApprovalVerdict, Approver, ApprovalEventType, ApprovalExecution } from '../../src/domain/index.js';

export type { ApprovalRequestState, ApprovalVerdict, Approver, ApprovalExecution } from '../../src/domain/index.js';

/**
 * `approval:<requestId>` starts with the request as the API wrote it: the rule's levels are a
 * snapshot, so a rule changed later never changes a request already open.
 */
export interface ApprovalWorkflowInput {
  request: ApprovalRequestState;
}

/** Who sent a decision or a cancel through the API, as its audit row names them: the principal and the HTTP request's id. */
export interface ApprovalOrigin {
  actorType: string;
  actorId: string;
  requestId: string;
}

/** A decision, with the facts about the decider the API authenticated (the validator judges eligibility from them). */
export interface ApprovalDecisionRequest {
  approver: Approver;
  decision: ApprovalVerdict;
  comment: string | null;
  origin?: ApprovalOrigin;
}

export interface ApprovalCancelRequest {
  userId: string;
  origin?: ApprovalOrigin;
}

/** `ApplicationFailure` type of a refused decision or cancel; its first detail is `{ code }` (`not_an_approver` → 403, `already_decided` → 409, `not_the_requester` → 403). */
export const approvalRefusalFailureType = 'ApprovalRefused';

export interface ApprovalRefusalDetails {
  code: 'not_an_approver' | 'already_decided' | 'not_the_requester';
}

export const decideApprovalUpdate = defineUpdate<ApprovalRequestState, [ApprovalDecisionRequest]>('decide');
export const cancelApprovalUpdate = defineUpdate<ApprovalRequestState, [ApprovalCancelRequest]>('cancel');
export const approvalStateQuery = defineQuery<ApprovalRequestState>('state');

/** Keyword search attributes `approval:<id>` sets, so ops filter requests in the Temporal UI. */
export const approvalSearchAttributes = {
  organizationId: { name: 'OrganizationId', type: 'KEYWORD' },
  subjectType: { name: 'ApprovalSubjectType', type: 'KEYWORD' },
  status: { name: 'ApprovalStatus', type: 'KEYWORD' },
} as const;

/** One write of the request's state, with the webhook events and the audit row of the transition that made it. */
export interface ApprovalStateWrite {
  state: ApprovalRequestState;
  events: ApprovalEventType[];
  /** The audit action, e.g. `approval_request.decided`. */
  auditAction: string;
  /** The API call behind the transition; absent for a timer's and the action's (audit rows then name the workflow). */
  origin?: ApprovalOrigin;
}

/** What the subject's action did once approved, as the activity reports it. */
export type ApprovalExecutionResult = Omit<ApprovalExecution, 'at'>;

export interface ApprovalExecuteInput {
  requestId: string;
  subjectType: ApprovalSubjectType;
}
