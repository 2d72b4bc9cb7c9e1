import { defineQuery, defineUpdate } from '@temporalio/workflow';
import type { DisputeOutcome, DisputeSource, DisputeStatus, OperatorOutcome } from '../../src/domain/index.js';
import type { ApprovalRequestState } from './approval.js';

/** `dispute:<id>` as it stands; the workflow is the only writer of a customer dispute's status. */
export interface DisputeState {
  id: string;
  invoiceId: string;
  organizationId: string;
  source: DisputeSource;
  amount: number;
  currency: string;
  status: DisputeStatus;
  /** The resolution asked for (while pending approval or being carried out) or made. */
  resolution: { outcome: DisputeOutcome; amount: number; comment: string | null; decidedBy: string } | null;
  approvalRequestId: string | null;
  creditNoteId: string | null;
  stripeRefundId: string | null;
  /** Why the last resolution could not be carried out (the dispute went back to review). */
  lastFailure: { code: string; message: string; at: string } | null;
  resolvedAt: string | null;
}

export interface DisputeWorkflowInput {
  disputeId: string;
}

/** Who sent a message through the API, as its audit row names them: the principal and the HTTP request's id. */
export interface DisputeOrigin {
  actorType: string;
  actorId: string;
  requestId: string;
}

export interface DisputeCommentRequest {
  /** Chosen by the API (from the Idempotency-Key when there is one): a retried update adds the comment once. */
  commentId: string;
  userId: string;
  body: string;
  /** The author speaks for the operator (a platform role): an open dispute goes under review. */
  byOperator: boolean;
  origin: DisputeOrigin;
}

export interface DisputeComment {
  id: string;
  userId: string;
  body: string;
  at: string;
}

export interface DisputeResolveRequest {
  outcome: OperatorOutcome;
  /** What the resolution moves (defaults to the disputed amount); a rejection moves nothing. */
  amount: number | null;
  comment: string | null;
  decidedBy: string;
  origin: DisputeOrigin;
}

export interface DisputeWithdrawRequest {
  userId: string;
  origin: DisputeOrigin;
}

/** `ApplicationFailure` type of a refused update; its first detail is `{ code, status }` (the HTTP status the API answers). */
export const disputeRefusalFailureType = 'DisputeRefused';

export interface DisputeRefusalDetails {
  code: string;
  status: 409 | 422;
  details: Record<string, string | number>;
}

export const commentOnDisputeUpdate = defineUpdate<{ state: DisputeState; comment: DisputeComment }, [DisputeCommentRequest]>('comment');
/** Answers once the resolution is carried out, or once it waits for approval (`status: pending_approval`). */
export const resolveDisputeUpdate = defineUpdate<DisputeState, [DisputeResolveRequest]>('resolve');
export const withdrawDisputeUpdate = defineUpdate<DisputeState, [DisputeWithdrawRequest]>('withdraw');
export const disputeStateQuery = defineQuery<DisputeState>('state');

/** Keyword search attributes `dispute:<id>` sets (with the organization's, shared with approvals), so ops filter disputes in the Temporal UI. */
export const disputeSearchAttributes = {
  invoiceId: { name: 'InvoiceId', type: 'KEYWORD' },
  status: { name: 'DisputeStatus', type: 'KEYWORD' },
} as const;

/** What the resolution's approval, run as a child workflow, starts with. */
export interface ResolutionPlan {
  state: DisputeState;
  /** Set when a `dispute_resolution` rule matched: the request the child workflow runs. */
  approval: ApprovalRequestState | null;
}

/** A step of the resolution that could not be carried out for good (Stripe refused the refund, the invoice changed). */
export interface ResolutionFailure {
  code: string;
  message: string;
}

/** The saga's first step: the credit note, and what the refund (if any) sends to Stripe. */
export type CreditStep =
  | { kind: 'credited'; state: DisputeState }
  | { kind: 'refund'; creditNoteId: string; paymentIntentId: string; amount: number }
  | { kind: 'refused'; failure: ResolutionFailure };
