import type { EntityManager } from '@mikro-orm/postgresql';
import type { Client } from '@temporalio/client';
import { ApprovalRequest, Organization } from '../db/entities/index.js';
import { approvalRulesFor, approvalStateColumns, ruleCandidate } from '../db/repositories/approvals.js';
import { ancestryOf } from '../db/repositories/organizations.js';
import { chooseApprovalRule, openApproval, type ApprovalLevelSpec, type ApprovalRequestState, type ApprovalRuleCandidate, type ApprovalSubjectType } from '../domain/index.js';
import { workflowIds } from '../temporal/workflow-ids.js';
import { recordWebhookEvent } from '../webhooks/outbox.js';
import { approvalSearchAttributes, type ApprovalWorkflowInput } from '../../workflows/messages/approval.js';

export interface ApprovalSubjectInput {
  subjectType: ApprovalSubjectType;
  organizationId: string;
  amount: number | null;
  currency: string | null;
}

/** The rule a subject must go through, or null when it proceeds at once. */
export async function applicableApprovalRule(em: EntityManager, subject: ApprovalSubjectInput): Promise<ApprovalRuleCandidate | null> {
  const ancestry = (await ancestryOf(em, subject.organizationId)) ?? [subject.organizationId];
  const rules = (await approvalRulesFor(em, subject.subjectType)).map(ruleCandidate);
  return chooseApprovalRule(rules, { subjectType: subject.subjectType, ancestry, amount: subject.amount, currency: subject.currency });
}

export interface OpenApprovalInput extends ApprovalSubjectInput {
  id: string;
  subjectId: string | null;
  /** What the subject's action needs once approved. */
  payload: Record<string, unknown>;
  title: string;
  description: string | null;
  requestedBy: string;
  ruleId: string | null;
  levels: readonly ApprovalLevelSpec[];
}

export interface ApprovalOpening {
  temporal: Client;
  taskQueue: string;
  now: Date;
}

/**
 * The request's row and its `approval.requested` event, in the caller's transaction; returns the
 * state `approval:<id>` starts with. A workflow that runs the approval as its child starts it itself.
 */
export async function insertApprovalRequest(tx: EntityManager, now: Date, input: OpenApprovalInput): Promise<{ request: ApprovalRequest; state: ApprovalRequestState; eventIds: string[] }> {
  const state = openApproval({ id: input.id, organizationId: input.organizationId, subjectType: input.subjectType, requestedBy: input.requestedBy, levels: input.levels }, now.toISOString());
  const request = tx.create(ApprovalRequest, {
    id: input.id,
    organization: tx.getReference(Organization, input.organizationId),
    subjectType: input.subjectType,
    subjectId: input.subjectId,
    subjectPayload: input.payload,
    title: input.title,
    description: input.description,
    amount: input.amount,
    currency: input.currency,
    requestedBy: input.requestedBy,
    ruleId: input.ruleId,
    createdAt: now,
    ...approvalStateColumns(state),
  });
  const eventId = await recordWebhookEvent(tx, {
    organizationId: input.organizationId,
    type: 'approval.requested',
    data: { id: input.id, organizationId: input.organizationId, subjectType: input.subjectType, subjectId: input.subjectId, title: input.title, amount: input.amount, currency: input.currency, requestedBy: input.requestedBy },
    dedupeKey: `approval.requested:${input.id}`,
  });
  await tx.flush();
  return { request, state, eventIds: [eventId] };
}

/** How `approval:<id>` is started: its id and the search attributes ops filter by. */
export function approvalWorkflowOptions(state: ApprovalRequestState) {
  return {
    workflowId: workflowIds.approval(state.id),
    typedSearchAttributes: [
      { key: approvalSearchAttributes.organizationId, value: state.organizationId },
      { key: approvalSearchAttributes.subjectType, value: state.subjectType },
      { key: approvalSearchAttributes.status, value: state.status },
    ],
  };
}

/**
 * Opens a request in the caller's transaction: the row and its `approval.requested` event (the
 * caller writes the audit row of what it answers); then starts `approval:<id>` before the commit, so a committed request always has its
 * workflow (which waits for the row, and ends without acting if the transaction rolled back).
 * Returns the webhook event to dispatch after the commit.
 */
export async function openApprovalRequest(tx: EntityManager, opening: ApprovalOpening, input: OpenApprovalInput): Promise<{ request: ApprovalRequest; eventIds: string[] }> {
  const { request, state, eventIds } = await insertApprovalRequest(tx, opening.now, input);
  const args: [ApprovalWorkflowInput] = [{ request: state }];
  await opening.temporal.workflow.start('approvalRequest', { ...approvalWorkflowOptions(state), taskQueue: opening.taskQueue, args });
  return { request, eventIds };
}
