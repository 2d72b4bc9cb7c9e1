import { defineEntity, p } from '@mikro-orm/core';
import type { ApprovalExecution, ApprovalLevelSpec, ApprovalLevelState, ApprovalTimelineEntry } from '../../domain/index.js';
import { Organization } from './organization.js';

export const approvalSubjectTypeValues = ['credit_note', 'refund', 'dispute_resolution', 'contract_amendment', 'seat_increase', 'plan_change', 'budget_exception', 'manual'] as const;
export const approvalStatusValues = ['pending', 'approved', 'rejected', 'expired', 'canceled'] as const;

/** Who must sign off on a kind of action: its levels are copied into each request it opens. */
const ApprovalRuleSchema = defineEntity({
  name: 'ApprovalRule',
  tableName: 'approval_rules',
  properties: {
    id: p.uuid().primary(),
    name: p.string().length(200),
    subjectType: p.enum(approvalSubjectTypeValues),
    organization: () => p.manyToOne(Organization).nullable().deleteRule('cascade'),
    minAmount: p.bigint('number'),
    currency: p.string().length(3).nullable(),
    levels: p.json<ApprovalLevelSpec[]>(),
    createdBy: p.string().length(200),
    createdAt: p.datetime().onCreate(() => new Date()),
    updatedAt: p.datetime().onCreate(() => new Date()),
  },
  indexes: [{ name: 'approval_rules_subject_type_index', properties: ['subjectType'] }],
});

export class ApprovalRule extends ApprovalRuleSchema.class {}
ApprovalRuleSchema.setClass(ApprovalRule);

/**
 * One request, as `approval:<id>` last wrote it (the workflow is the source of truth for its
 * state). `currentRole`, `currentApprovers` and `decidedBy` are the inbox's columns: who can
 * decide now, and who already has.
 */
const ApprovalRequestSchema = defineEntity({
  name: 'ApprovalRequest',
  tableName: 'approval_requests',
  properties: {
    id: p.uuid().primary(),
    organization: () => p.manyToOne(Organization).deleteRule('cascade'),
    subjectType: p.enum(approvalSubjectTypeValues),
    subjectId: p.string().length(200).nullable(),
    /** What the action needs to run once approved (a credit note's invoice, amount, reason). */
    subjectPayload: p.json<Record<string, unknown>>(),
    title: p.string().length(200),
    description: p.text().nullable(),
    amount: p.bigint('number').nullable(),
    currency: p.string().length(3).nullable(),
    requestedBy: p.string().length(200),
    ruleId: p.uuid().nullable(),
    status: p.enum(approvalStatusValues),
    currentLevel: p.integer(),
    currentRole: p.string().length(32).nullable(),
    currentApprovers: p.array<string>(),
    decidedBy: p.array<string>(),
    levels: p.json<ApprovalLevelState[]>(),
    timeline: p.json<ApprovalTimelineEntry[]>(),
    execution: p.json<ApprovalExecution>().nullable(),
    /** Bumped by each write of the workflow; a stale write (an activity retried late) is ignored. */
    version: p.integer(),
    createdAt: p.datetime(),
    decidedAt: p.datetime().nullable(),
  },
  indexes: [
    { name: 'approval_requests_inbox_index', properties: ['status', 'currentRole', 'createdAt'] },
    { name: 'approval_requests_organization_index', properties: ['organization', 'createdAt'] },
  ],
});

export class ApprovalRequest extends ApprovalRequestSchema.class {}
ApprovalRequestSchema.setClass(ApprovalRequest);

const ApprovalCommentSchema = defineEntity({
  name: 'ApprovalComment',
  tableName: 'approval_comments',
  properties: {
    id: p.uuid().primary(),
    request: () => p.manyToOne(ApprovalRequest).deleteRule('cascade'),
    userId: p.string().length(200),
    body: p.text(),
    createdAt: p.datetime(),
  },
  indexes: [{ name: 'approval_comments_request_index', properties: ['request', 'createdAt'] }],
});

export class ApprovalComment extends ApprovalCommentSchema.class {}
ApprovalCommentSchema.setClass(ApprovalComment);
