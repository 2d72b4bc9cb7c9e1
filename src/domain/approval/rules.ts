import { DomainError } from '../errors.js';

export const approvalSubjectTypes = [
  'credit_note',
  'refund',
  'dispute_resolution',
  'contract_amendment',
  'seat_increase',
  'plan_change',
  'budget_exception',
  'manual',
] as const;
export type ApprovalSubjectType = (typeof approvalSubjectTypes)[number];

/**
 * Subjects whose approved action only writes the database: the workflow carries them out in the
 * workflow task of the last decision. Any other (a refund calls Stripe) goes through the activity
 * queue, so a slow outside service never holds the decision's answer — as billing sends only the
 * Stripe charge through the queue. A dispute's resolution and a contract amendment are carried out
 * by their own workflow, the approval's parent, so approving them records the decision only.
 */
const carriedOutInWorkflowTask: readonly ApprovalSubjectType[] = ['manual', 'credit_note', 'dispute_resolution', 'contract_amendment'];

export const isCarriedOutInWorkflowTask = (subjectType: ApprovalSubjectType): boolean => carriedOutInWorkflowTask.includes(subjectType);

export const organizationApproverRoles = ['OWNER', 'BILLING_ADMIN', 'ADMIN'] as const;
export const platformApproverRoles = ['finance', 'platform_admin'] as const;
export const approverRoles = [...organizationApproverRoles, ...platformApproverRoles] as const;
export type OrganizationApproverRole = (typeof organizationApproverRoles)[number];
export type PlatformApproverRole = (typeof platformApproverRoles)[number];
export type ApproverRole = (typeof approverRoles)[number];

export const timeoutActions = ['escalate', 'reject', 'approve'] as const;
export type TimeoutAction = (typeof timeoutActions)[number];

/** One level of a rule: who may decide, how many must approve, and what a silent level does. */
export interface ApprovalLevelSpec {
  role: ApproverRole;
  /** When not empty, only these users decide (and each must still hold `role`). */
  approvers: string[];
  quorum: number;
  timeoutHours: number | null;
  onTimeout: TimeoutAction | null;
}

export interface ApprovalRuleCandidate {
  id: string;
  subjectType: ApprovalSubjectType;
  /** null: every organization; else this one and its children. */
  organizationId: string | null;
  minAmount: number;
  /** null: any currency. */
  currency: string | null;
  levels: ApprovalLevelSpec[];
}

export interface ApprovalSubjectFacts {
  subjectType: ApprovalSubjectType;
  /** The subject's organization first, then its parent, up to the root. */
  ancestry: readonly string[];
  amount: number | null;
  currency: string | null;
}

/** Longest a level may wait: a year, so a timer always fits in a workflow's history and a JS Date. */
export const MAX_LEVEL_TIMEOUT_HOURS = 24 * 366;
export const MAX_APPROVAL_LEVELS = 10;
export const MAX_NAMED_APPROVERS = 100;

const invalid = (message: string, details: Record<string, unknown> = {}) => new DomainError('INVALID_APPROVAL_RULE', message, details);

/** Refuses levels no request could ever get through (a quorum above the named approvers, a timeout without an action). */
export function validateApprovalLevels(levels: readonly ApprovalLevelSpec[]): void {
  if (levels.length === 0 || levels.length > MAX_APPROVAL_LEVELS) throw invalid(`A rule has 1 to ${MAX_APPROVAL_LEVELS} levels.`);
  levels.forEach((level, index) => {
    const at = `levels.${index}`;
    if (!Number.isInteger(level.quorum) || level.quorum < 1) throw invalid(`${at}.quorum must be a positive integer.`, { field: `${at}.quorum` });
    if (new Set(level.approvers).size !== level.approvers.length) throw invalid(`${at}.approvers names someone twice.`, { field: `${at}.approvers` });
    if (level.approvers.length > 0 && level.quorum > level.approvers.length) {
      throw invalid(`${at}.quorum ${level.quorum} is more than the ${level.approvers.length} named approvers.`, { field: `${at}.quorum` });
    }
    if ((level.timeoutHours === null) !== (level.onTimeout === null)) {
      throw invalid(`${at}: timeoutHours and onTimeout go together.`, { field: `${at}.onTimeout` });
    }
    if (level.timeoutHours !== null && !(level.timeoutHours > 0 && level.timeoutHours <= MAX_LEVEL_TIMEOUT_HOURS)) {
      throw invalid(`${at}.timeoutHours must be more than 0 and at most ${MAX_LEVEL_TIMEOUT_HOURS}.`, { field: `${at}.timeoutHours` });
    }
  });
}

/** How specific a rule's scope is for a subject: 0 for its own organization, then each ancestor, global last; null when it does not hold there. */
function scopeDistance(rule: ApprovalRuleCandidate, ancestry: readonly string[]): number | null {
  if (rule.organizationId === null) return ancestry.length;
  const index = ancestry.indexOf(rule.organizationId);
  return index === -1 ? null : index;
}

function applies(rule: ApprovalRuleCandidate, facts: ApprovalSubjectFacts): boolean {
  if (rule.subjectType !== facts.subjectType) return false;
  if (rule.currency !== null && rule.currency !== facts.currency) return false;
  return rule.minAmount <= (facts.amount ?? 0);
}

/**
 * The rule a subject goes through, or null when none applies (the action then proceeds at once):
 * the most specific scope wins, then the highest `minAmount` not above the amount, then the
 * lowest id, so the choice never depends on the order rules were read in.
 */
export function chooseApprovalRule<R extends ApprovalRuleCandidate>(rules: readonly R[], facts: ApprovalSubjectFacts): R | null {
  let best: { rule: R; distance: number } | null = null;
  for (const rule of rules) {
    if (!applies(rule, facts)) continue;
    const distance = scopeDistance(rule, facts.ancestry);
    if (distance === null) continue;
    const better =
      best === null ||
      distance < best.distance ||
      (distance === best.distance && (rule.minAmount > best.rule.minAmount || (rule.minAmount === best.rule.minAmount && rule.id < best.rule.id)));
    if (better) best = { rule, distance };
  }
  return best?.rule ?? null;
}
