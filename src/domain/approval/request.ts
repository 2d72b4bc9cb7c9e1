import type { ApprovalLevelSpec, ApprovalSubjectType, ApproverRole, OrganizationApproverRole, PlatformApproverRole } from './rules.js';

export type ApprovalStatus = 'pending' | 'approved' | 'rejected' | 'expired' | 'canceled';
/** `waiting`: not reached yet; `timed_out`: its timer fired and the request moved on (escalate) or ended (reject). */
export type ApprovalLevelStatus = 'waiting' | 'pending' | 'approved' | 'rejected' | 'timed_out';
export type ApprovalVerdict = 'approve' | 'reject';

export interface ApprovalDecisionRecord {
  userId: string;
  decision: ApprovalVerdict;
  comment: string | null;
  at: string;
}

export interface ApprovalLevelState extends ApprovalLevelSpec {
  /** 1-based. */
  level: number;
  status: ApprovalLevelStatus;
  decisions: ApprovalDecisionRecord[];
  startedAt: string | null;
  endedAt: string | null;
  /** Added when the last level timed out with `escalate`: the platform admins decide. */
  escalation: boolean;
}

export type ApprovalTimelineType =
  | 'requested'
  | 'decision'
  | 'level_approved'
  | 'level_timed_out'
  | 'escalated'
  | 'approved'
  | 'rejected'
  | 'expired'
  | 'canceled'
  | 'executed'
  | 'execution_failed';

export interface ApprovalTimelineEntry {
  at: string;
  type: ApprovalTimelineType;
  level?: number;
  userId?: string;
  detail?: string;
}

/** What became of the subject's action once approved. */
export interface ApprovalExecution {
  status: 'executed' | 'failed';
  at: string;
  /** The object the action made (a credit note's id), when it made one. */
  resultId: string | null;
  detail: string | null;
}

export interface ApprovalRequestState {
  id: string;
  organizationId: string;
  subjectType: ApprovalSubjectType;
  requestedBy: string;
  status: ApprovalStatus;
  /** The level deciding now (1-based); the last one reached once the request is decided. */
  currentLevel: number;
  levels: ApprovalLevelState[];
  timeline: ApprovalTimelineEntry[];
  decidedAt: string | null;
  execution: ApprovalExecution | null;
}

/** Who is deciding, as the API authenticated them: their role in the request's organization comes from its ancestry. */
export interface Approver {
  userId: string;
  /** Only people decide: an API key is never an approver. */
  isPerson: boolean;
  platformRole: PlatformApproverRole | null;
  organizationRole: OrganizationApproverRole | 'MEMBER' | null;
}

/** Outgoing webhook event types a transition emits, in order. */
export type ApprovalEventType = 'approval.requested' | 'approval.level_approved' | 'approval.approved' | 'approval.rejected' | 'approval.expired' | 'approval.canceled';

export interface ApprovalTransition {
  next: ApprovalRequestState;
  events: ApprovalEventType[];
}

export interface ApprovalRefusal {
  code: 'not_an_approver' | 'already_decided' | 'not_the_requester';
  message: string;
}

/** Which roles satisfy a level's role: a stronger role of the same kind does (an OWNER may decide where BILLING_ADMIN is asked). */
const satisfiedBy: Record<ApproverRole, readonly string[]> = {
  OWNER: ['OWNER'],
  BILLING_ADMIN: ['OWNER', 'BILLING_ADMIN'],
  ADMIN: ['OWNER', 'BILLING_ADMIN', 'ADMIN'],
  finance: ['finance', 'platform_admin'],
  platform_admin: ['platform_admin'],
};

/** Whether someone holds the level's role and, when it names approvers, is one of them. */
export function holdsLevel(level: ApprovalLevelSpec, approver: Approver): boolean {
  if (!approver.isPerson) return false;
  if (level.approvers.length > 0 && !level.approvers.includes(approver.userId)) return false;
  const held = [approver.platformRole, approver.organizationRole].filter((role) => role !== null);
  return held.some((role) => satisfiedBy[level.role].includes(role));
}

export function openApproval(
  request: { id: string; organizationId: string; subjectType: ApprovalSubjectType; requestedBy: string; levels: readonly ApprovalLevelSpec[] },
  at: string,
): ApprovalRequestState {
  return {
    id: request.id,
    organizationId: request.organizationId,
    subjectType: request.subjectType,
    requestedBy: request.requestedBy,
    status: 'pending',
    currentLevel: 1,
    levels: request.levels.map((spec, index) => ({
      ...spec,
      approvers: [...spec.approvers],
      level: index + 1,
      status: index === 0 ? 'pending' : 'waiting',
      decisions: [],
      startedAt: index === 0 ? at : null,
      endedAt: null,
      escalation: false,
    })),
    timeline: [{ at, type: 'requested', userId: request.requestedBy }],
    decidedAt: null,
    execution: null,
  };
}

const current = (state: ApprovalRequestState): ApprovalLevelState => {
  const level = state.levels[state.currentLevel - 1];
  if (!level) throw new Error(`approval ${state.id} has no level ${state.currentLevel}`);
  return level;
};

/**
 * Why this person may not decide now, or null when they may. The requester never decides their
 * own request, and a person counts once per request, whichever roles they hold.
 */
export function refusalOf(state: ApprovalRequestState, approver: Approver): ApprovalRefusal | null {
  if (state.status !== 'pending') return { code: 'already_decided', message: `Approval request ${state.id} is ${state.status}.` };
  if (state.levels.some((level) => level.decisions.some((decision) => decision.userId === approver.userId))) {
    return { code: 'already_decided', message: `${approver.userId} has already decided approval request ${state.id}; a person counts once per request.` };
  }
  if (approver.userId === state.requestedBy) return { code: 'not_an_approver', message: 'The requester never decides their own request.' };
  const level = current(state);
  if (!holdsLevel(level, approver)) {
    const who = level.approvers.length > 0 ? `one of its named approvers holding ${level.role}` : level.role;
    return { code: 'not_an_approver', message: `Level ${level.level} of approval request ${state.id} is decided by ${who}.` };
  }
  return null;
}

function withLevel(state: ApprovalRequestState, changed: ApprovalLevelState): ApprovalLevelState[] {
  return state.levels.map((level) => (level.level === changed.level ? changed : level));
}

/** The current level is through: the next one starts, or the request is approved after the last. */
function advance(state: ApprovalRequestState, at: string, events: ApprovalEventType[]): ApprovalTransition {
  const nextLevel = state.levels[state.currentLevel];
  if (!nextLevel) {
    return { next: { ...state, status: 'approved', decidedAt: at, timeline: [...state.timeline, { at, type: 'approved' }] }, events: [...events, 'approval.approved'] };
  }
  const started = { ...nextLevel, status: 'pending' as const, startedAt: at };
  return { next: { ...state, currentLevel: started.level, levels: withLevel(state, started) }, events };
}

/** Applies one decision; the caller has checked `refusalOf` (the workflow's update validator does). */
export function decideApproval(state: ApprovalRequestState, approver: Approver, verdict: ApprovalVerdict, comment: string | null, at: string): ApprovalTransition {
  const refusal = refusalOf(state, approver);
  if (refusal) throw new Error(refusal.message);
  const level = current(state);
  const decisions = [...level.decisions, { userId: approver.userId, decision: verdict, comment, at }];
  const timeline = [...state.timeline, { at, type: 'decision' as const, level: level.level, userId: approver.userId, detail: verdict }];
  if (verdict === 'reject') {
    const levels = withLevel(state, { ...level, decisions, status: 'rejected', endedAt: at });
    return { next: { ...state, levels, status: 'rejected', decidedAt: at, timeline: [...timeline, { at, type: 'rejected', level: level.level }] }, events: ['approval.rejected'] };
  }
  const approvals = decisions.filter((decision) => decision.decision === 'approve').length;
  if (approvals < level.quorum) return { next: { ...state, levels: withLevel(state, { ...level, decisions }), timeline }, events: [] };
  const levels = withLevel(state, { ...level, decisions, status: 'approved', endedAt: at });
  return advance({ ...state, levels, timeline: [...timeline, { at, type: 'level_approved', level: level.level }] }, at, ['approval.level_approved']);
}

/** The instant the current level times out, or null when it waits for as long as it takes. */
export function levelDeadline(state: ApprovalRequestState): number | null {
  if (state.status !== 'pending') return null;
  const level = current(state);
  if (level.timeoutHours === null || level.startedAt === null) return null;
  return Date.parse(level.startedAt) + level.timeoutHours * 3_600_000;
}

/** The current level's timer fired with nobody having completed it: escalate, reject (the request expires) or approve. */
export function timeOutLevel(state: ApprovalRequestState, at: string): ApprovalTransition {
  const level = current(state);
  if (state.status !== 'pending' || level.onTimeout === null) return { next: state, events: [] };
  const timedOut = { ...level, status: 'timed_out' as const, endedAt: at };
  const timeline = [...state.timeline, { at, type: 'level_timed_out' as const, level: level.level, detail: level.onTimeout }];
  const moved = { ...state, levels: withLevel(state, timedOut), timeline };
  switch (level.onTimeout) {
    case 'reject':
      return { next: { ...moved, status: 'expired', decidedAt: at, timeline: [...timeline, { at, type: 'expired', level: level.level }] }, events: ['approval.expired'] };
    case 'approve':
      return advance({ ...moved, levels: withLevel(state, { ...timedOut, status: 'approved' }) }, at, ['approval.level_approved']);
    case 'escalate': {
      if (state.levels[state.currentLevel]) return advance(moved, at, []);
      const escalation: ApprovalLevelState = {
        role: 'platform_admin',
        approvers: [],
        quorum: 1,
        timeoutHours: null,
        onTimeout: null,
        level: level.level + 1,
        status: 'pending',
        decisions: [],
        startedAt: at,
        endedAt: null,
        escalation: true,
      };
      return {
        next: { ...moved, currentLevel: escalation.level, levels: [...moved.levels, escalation], timeline: [...timeline, { at, type: 'escalated', level: escalation.level }] },
        events: [],
      };
    }
  }
}

/** The requester withdraws a pending request; nothing is carried out. */
export function cancelApproval(state: ApprovalRequestState, userId: string, at: string): ApprovalTransition {
  const refusal = cancelRefusalOf(state, userId);
  if (refusal) throw new Error(refusal.message);
  return {
    next: { ...state, status: 'canceled', decidedAt: at, timeline: [...state.timeline, { at, type: 'canceled', userId }] },
    events: ['approval.canceled'],
  };
}

export function cancelRefusalOf(state: ApprovalRequestState, userId: string): ApprovalRefusal | null {
  if (state.status !== 'pending') return { code: 'already_decided', message: `Approval request ${state.id} is ${state.status}.` };
  if (userId !== state.requestedBy) return { code: 'not_the_requester', message: 'Only the requester cancels a request.' };
  return null;
}

/** Records what the approved action did. */
export function recordExecution(state: ApprovalRequestState, execution: ApprovalExecution): ApprovalRequestState {
  const entry: ApprovalTimelineEntry = { at: execution.at, type: execution.status === 'executed' ? 'executed' : 'execution_failed', ...(execution.detail ? { detail: execution.detail } : {}) };
  return { ...state, execution, timeline: [...state.timeline, entry] };
}

/** Who may decide at the current level, for the inbox: null once nothing is left to decide. */
export function currentAssignment(state: ApprovalRequestState): { role: ApproverRole; approvers: string[]; decidedBy: string[] } | null {
  if (state.status !== 'pending') return null;
  const level = current(state);
  return { role: level.role, approvers: level.approvers, decidedBy: state.levels.flatMap((each) => each.decisions.map((decision) => decision.userId)) };
}
