import type { EntityManager } from '@mikro-orm/postgresql';
import { LockMode } from '@mikro-orm/core';
import { currentAssignment, type ApprovalRequestState, type ApprovalRuleCandidate, type ApprovalSubjectType } from '../../domain/index.js';
import { ApprovalRequest, ApprovalRule } from '../entities/index.js';
import { sql } from '../sql.js';

/** A rule as the domain's `chooseApprovalRule` reads it. */
export function ruleCandidate(rule: ApprovalRule): ApprovalRuleCandidate {
  return {
    id: rule.id,
    subjectType: rule.subjectType,
    organizationId: rule.organization?.id ?? null,
    minAmount: rule.minAmount,
    currency: rule.currency ?? null,
    levels: rule.levels,
  };
}

/** Every rule for a kind of subject: a handful, so the choice among them is the domain's, in memory. */
export async function approvalRulesFor(em: EntityManager, subjectType: ApprovalSubjectType): Promise<ApprovalRule[]> {
  return em.find(ApprovalRule, { subjectType }, { orderBy: { id: 'asc' } });
}

/** The row's version for a state: every transition appends to the timeline, so its length only grows. */
export const approvalVersionOf = (state: ApprovalRequestState) => state.timeline.length;

/** The columns `approval:<id>` owns, from one of its states. */
export function approvalStateColumns(state: ApprovalRequestState) {
  const assignment = currentAssignment(state);
  return {
    status: state.status,
    currentLevel: state.currentLevel,
    currentRole: assignment?.role ?? null,
    currentApprovers: assignment?.approvers ?? [],
    decidedBy: state.levels.flatMap((level) => level.decisions.map((decision) => decision.userId)),
    levels: state.levels,
    timeline: state.timeline,
    execution: state.execution,
    version: approvalVersionOf(state),
    decidedAt: state.decidedAt === null ? null : new Date(state.decidedAt),
  };
}

/** What the row knows of the request beyond the workflow's state (webhook events carry it). */
export interface ApprovalSubjectColumns {
  subjectId: string | null;
  amount: number | null;
  currency: string | null;
}

/**
 * Writes one state of the workflow, unless the row already holds this or a later one (an
 * activity retried after a later write). Returns the row's subject columns when it wrote, else null.
 */
export async function writeApprovalState(tx: EntityManager, state: ApprovalRequestState): Promise<ApprovalSubjectColumns | null> {
  const columns = approvalStateColumns(state);
  const rows = await sql<{ subject_id: string | null; amount: string | null; currency: string | null }>(
    tx,
    `update approval_requests set status = $2, current_level = $3, "current_role" = $4, current_approvers = $5, decided_by = $6,
       levels = $7::jsonb, timeline = $8::jsonb, execution = $9::jsonb, version = $10, decided_at = $11
     where id = $1 and version < $10 returning subject_id, amount, currency`,
    [
      state.id,
      columns.status,
      columns.currentLevel,
      columns.currentRole,
      columns.currentApprovers,
      columns.decidedBy,
      JSON.stringify(columns.levels),
      JSON.stringify(columns.timeline),
      columns.execution === null ? null : JSON.stringify(columns.execution),
      columns.version,
      columns.decidedAt,
    ],
  );
  const [row] = rows;
  return row ? { subjectId: row.subject_id, amount: row.amount === null ? null : Number(row.amount), currency: row.currency } : null;
}

/** The request row, or null when its transaction never committed (the workflow then ends without acting). */
export async function findApprovalRequest(em: EntityManager, id: string): Promise<ApprovalRequest | null> {
  return em.findOne(ApprovalRequest, { id });
}

/** The request row, locked for the rest of the caller's transaction: carrying out its action serializes on it. */
export async function lockApprovalRequest(tx: EntityManager, id: string): Promise<ApprovalRequest | null> {
  return tx.findOne(ApprovalRequest, { id }, { lockMode: LockMode.PESSIMISTIC_WRITE });
}
