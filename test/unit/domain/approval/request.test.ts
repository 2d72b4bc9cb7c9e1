import { describe, expect, it } from '@jest/globals';
import {
  cancelApproval,
  cancelRefusalOf,
  currentAssignment,
  decideApproval,
  holdsLevel,
  levelDeadline,
  openApproval,
  recordExecution,
  refusalOf,
  timeOutLevel,
  type ApprovalLevelSpec,
  type ApprovalRequestState,
  type ApproverRole,
  type Approver,
} from '../../../../src/domain/index.js';

const OPENED = '2026-12-01T09:00:00.000Z';
const LATER = '2026-12-01T10:00:00.000Z';
const LATEST = '2026-12-01T11:00:00.000Z';
const HOUR_MS = 3_600_000;

const level = (role: ApproverRole, overrides: Partial<ApprovalLevelSpec> = {}): ApprovalLevelSpec => ({
  role,
  approvers: [],
  quorum: 1,
  timeoutHours: null,
  onTimeout: null,
  ...overrides,
});

const open = (levels: ApprovalLevelSpec[], requestedBy = 'requester'): ApprovalRequestState =>
  openApproval({ id: 'req-1', organizationId: 'org-1', subjectType: 'credit_note', requestedBy, levels }, OPENED);

const person = (userId: string, organizationRole: Approver['organizationRole'], platformRole: Approver['platformRole'] = null): Approver => ({
  userId,
  isPerson: true,
  organizationRole,
  platformRole,
});
const owner = (userId: string) => person(userId, 'OWNER');
const finance = (userId: string) => person(userId, null, 'finance');
const platformAdmin = (userId: string) => person(userId, null, 'platform_admin');

describe('openApproval', () => {
  it('copies the levels, starts the first one and waits on the rest', () => {
    const specs = [level('BILLING_ADMIN', { approvers: ['ann', 'bob'], quorum: 2, timeoutHours: 24, onTimeout: 'escalate' }), level('finance')];
    const state = open(specs);
    expect(state).toEqual({
      id: 'req-1',
      organizationId: 'org-1',
      subjectType: 'credit_note',
      requestedBy: 'requester',
      status: 'pending',
      currentLevel: 1,
      levels: [
        { ...specs[0], level: 1, status: 'pending', decisions: [], startedAt: OPENED, endedAt: null, escalation: false },
        { ...specs[1], level: 2, status: 'waiting', decisions: [], startedAt: null, endedAt: null, escalation: false },
      ],
      timeline: [{ at: OPENED, type: 'requested', userId: 'requester' }],
      decidedAt: null,
      execution: null,
    });
  });

  it('keeps a snapshot: changing the rule afterwards changes nothing in the request', () => {
    const specs = [level('OWNER', { approvers: ['ann'] })];
    const state = open(specs);
    specs[0]!.approvers.push('mallory');
    specs[0]!.quorum = 5;
    expect(state.levels[0]).toMatchObject({ approvers: ['ann'], quorum: 1 });
  });
});

describe('refusalOf', () => {
  it('never lets the requester decide, whatever roles they hold', () => {
    const state = open([level('OWNER')], 'boss');
    expect(refusalOf(state, person('boss', 'OWNER', 'platform_admin'))).toEqual(expect.objectContaining({ code: 'not_an_approver' }));
  });

  it('counts a person once per request: having decided level 1, they are refused at level 2 even when eligible there', () => {
    const state = decideApproval(open([level('OWNER'), level('finance')]), person('ann', 'OWNER', 'finance'), 'approve', null, LATER).next;
    expect(state.currentLevel).toBe(2);
    expect(refusalOf(state, person('ann', 'OWNER', 'finance'))).toEqual(expect.objectContaining({ code: 'already_decided' }));
    expect(refusalOf(state, finance('bob'))).toBeNull();
  });

  it('refuses a second decision at the same level (quorum 2) as already decided', () => {
    const state = decideApproval(open([level('finance', { quorum: 2 })]), finance('ann'), 'approve', null, LATER).next;
    expect(refusalOf(state, finance('ann'))).toEqual(expect.objectContaining({ code: 'already_decided' }));
  });

  it.each(['approved', 'rejected', 'expired', 'canceled'] as const)('refuses every decision once the request is %s', (status) => {
    expect(refusalOf({ ...open([level('OWNER')]), status }, owner('ann'))).toEqual(expect.objectContaining({ code: 'already_decided' }));
  });

  it('answers only for the current level', () => {
    const state = open([level('OWNER'), level('finance')]);
    expect(refusalOf(state, finance('fin'))).toEqual(expect.objectContaining({ code: 'not_an_approver', message: expect.stringContaining('OWNER') }));
    expect(refusalOf(state, owner('ann'))).toBeNull();
  });

  type Held = [Approver['organizationRole'], Approver['platformRole']];
  const everyHeld: Record<string, Held> = {
    OWNER: ['OWNER', null],
    BILLING_ADMIN: ['BILLING_ADMIN', null],
    ADMIN: ['ADMIN', null],
    MEMBER: ['MEMBER', null],
    finance: [null, 'finance'],
    platform_admin: [null, 'platform_admin'],
    'MEMBER + finance': ['MEMBER', 'finance'],
    'ADMIN + platform_admin': ['ADMIN', 'platform_admin'],
    nothing: [null, null],
  };
  const satisfying: Record<ApproverRole, string[]> = {
    OWNER: ['OWNER'],
    BILLING_ADMIN: ['OWNER', 'BILLING_ADMIN'],
    ADMIN: ['OWNER', 'BILLING_ADMIN', 'ADMIN', 'ADMIN + platform_admin'],
    finance: ['finance', 'platform_admin', 'MEMBER + finance', 'ADMIN + platform_admin'],
    platform_admin: ['platform_admin', 'ADMIN + platform_admin'],
  };
  const table = (Object.keys(satisfying) as ApproverRole[]).flatMap((role) =>
    Object.entries(everyHeld).map(([heldName, held]) => [role, heldName, held, satisfying[role].includes(heldName)] as const),
  );

  it.each(table)('a level of %s, decided by someone holding %s: eligible %s', (role, _, [organizationRole, platformRole], eligible) => {
    const state = open([level(role)]);
    const refusal = refusalOf(state, person('decider', organizationRole, platformRole));
    expect(refusal === null).toBe(eligible);
    if (!eligible) expect(refusal?.code).toBe('not_an_approver');
  });

  it('never takes an API key as an approver, whatever role it acts with', () => {
    const key: Approver = { userId: 'key-1', isPerson: false, organizationRole: 'OWNER', platformRole: 'platform_admin' };
    for (const role of ['OWNER', 'BILLING_ADMIN', 'ADMIN', 'finance', 'platform_admin'] as const) {
      expect(refusalOf(open([level(role)]), key)).toEqual(expect.objectContaining({ code: 'not_an_approver' }));
    }
  });

  it.each<[string, Approver, boolean]>([
    ['a named approver holding the role', person('ann', 'BILLING_ADMIN'), true],
    ['a named approver holding a stronger role', person('bob', 'OWNER'), true],
    ['a named approver without the role', person('cat', 'ADMIN'), false],
    ['a named approver who is a MEMBER', person('cat', 'MEMBER'), false],
    ['someone holding the role but not named', person('dan', 'OWNER'), false],
    ['a platform admin not named', platformAdmin('eve'), false],
  ])('a level naming its approvers: %s, eligible %s', (_, approver, eligible) => {
    const state = open([level('BILLING_ADMIN', { approvers: ['ann', 'bob', 'cat'] })]);
    expect(refusalOf(state, approver) === null).toBe(eligible);
    expect(holdsLevel(state.levels[0]!, approver)).toBe(eligible);
  });
});

describe('decideApproval', () => {
  it('with quorum 2, one approval keeps the level pending and the second approves it and starts the next level', () => {
    const opened = open([level('finance', { quorum: 2 }), level('OWNER')]);
    const first = decideApproval(opened, finance('ann'), 'approve', 'fine by me', LATER);
    expect(first.events).toEqual([]);
    expect(first.next).toMatchObject({ status: 'pending', currentLevel: 1 });
    expect(first.next.levels[0]).toMatchObject({ status: 'pending', decisions: [{ userId: 'ann', decision: 'approve', comment: 'fine by me', at: LATER }] });

    const second = decideApproval(first.next, platformAdmin('bob'), 'approve', null, LATEST);
    expect(second.events).toEqual(['approval.level_approved']);
    expect(second.next).toMatchObject({ status: 'pending', currentLevel: 2, decidedAt: null });
    expect(second.next.levels.map(({ status, startedAt, endedAt }) => ({ status, startedAt, endedAt }))).toEqual([
      { status: 'approved', startedAt: OPENED, endedAt: LATEST },
      { status: 'pending', startedAt: LATEST, endedAt: null },
    ]);
  });

  it('ends the request at once on a rejection, even before the quorum', () => {
    const first = decideApproval(open([level('finance', { quorum: 2 }), level('OWNER')]), finance('ann'), 'approve', null, LATER);
    const rejected = decideApproval(first.next, finance('bob'), 'reject', 'not this quarter', LATEST);
    expect(rejected.events).toEqual(['approval.rejected']);
    expect(rejected.next).toMatchObject({ status: 'rejected', currentLevel: 1, decidedAt: LATEST });
    expect(rejected.next.levels.map((each) => each.status)).toEqual(['rejected', 'waiting']);
    expect(rejected.next.timeline.slice(-2)).toEqual([
      { at: LATEST, type: 'decision', level: 1, userId: 'bob', detail: 'reject' },
      { at: LATEST, type: 'rejected', level: 1 },
    ]);
    expect(currentAssignment(rejected.next)).toBeNull();
  });

  it('goes through three levels to approved, with the events and the timeline of each step', () => {
    let state = open([level('BILLING_ADMIN'), level('finance', { quorum: 2 }), level('OWNER', { approvers: ['olga'] })]);
    const events: string[] = [];
    const steps: [Approver, string][] = [
      [person('bill', 'BILLING_ADMIN'), '2026-12-01T09:10:00.000Z'],
      [finance('fin1'), '2026-12-01T09:20:00.000Z'],
      [finance('fin2'), '2026-12-01T09:30:00.000Z'],
      [owner('olga'), '2026-12-01T09:40:00.000Z'],
    ];
    for (const [approver, at] of steps) {
      const transition = decideApproval(state, approver, 'approve', null, at);
      events.push(...transition.events);
      state = transition.next;
    }
    expect(events).toEqual(['approval.level_approved', 'approval.level_approved', 'approval.level_approved', 'approval.approved']);
    expect(state).toMatchObject({ status: 'approved', currentLevel: 3, decidedAt: '2026-12-01T09:40:00.000Z' });
    expect(state.levels.map((each) => [each.status, each.decisions.map((decision) => decision.userId)])).toEqual([
      ['approved', ['bill']],
      ['approved', ['fin1', 'fin2']],
      ['approved', ['olga']],
    ]);
    expect(state.timeline.map((entry) => [entry.type, entry.level ?? null, entry.userId ?? null])).toEqual([
      ['requested', null, 'requester'],
      ['decision', 1, 'bill'],
      ['level_approved', 1, null],
      ['decision', 2, 'fin1'],
      ['decision', 2, 'fin2'],
      ['level_approved', 2, null],
      ['decision', 3, 'olga'],
      ['level_approved', 3, null],
      ['approved', null, null],
    ]);
  });

  it('throws for a decision its validator would have refused (the workflow never gets there)', () => {
    expect(() => decideApproval(open([level('OWNER')]), owner('requester'), 'approve', null, LATER)).toThrow('requester');
    expect(() => decideApproval(open([level('OWNER')]), finance('fin'), 'approve', null, LATER)).toThrow('OWNER');
  });

  it('leaves the state it was given unchanged', () => {
    const opened = open([level('OWNER')]);
    const copy = structuredClone(opened);
    decideApproval(opened, owner('ann'), 'approve', null, LATER);
    expect(opened).toEqual(copy);
  });
});

describe('levelDeadline', () => {
  it('is the current level start plus its timeout', () => {
    const state = open([level('OWNER', { timeoutHours: 24, onTimeout: 'reject' }), level('finance', { timeoutHours: 1.5, onTimeout: 'approve' })]);
    expect(levelDeadline(state)).toBe(Date.parse(OPENED) + 24 * HOUR_MS);
    const second = decideApproval(state, owner('ann'), 'approve', null, LATER).next;
    expect(levelDeadline(second)).toBe(Date.parse(LATER) + 1.5 * HOUR_MS);
  });

  it('is null for a level without a timeout and once the request is decided', () => {
    expect(levelDeadline(open([level('OWNER')]))).toBeNull();
    const timed = open([level('OWNER', { timeoutHours: 24, onTimeout: 'reject' })]);
    expect(levelDeadline(decideApproval(timed, owner('ann'), 'approve', null, LATER).next)).toBeNull();
    expect(levelDeadline(cancelApproval(timed, 'requester', LATER).next)).toBeNull();
  });
});

describe('timeOutLevel', () => {
  it('escalates to the next level', () => {
    const state = open([level('BILLING_ADMIN', { timeoutHours: 24, onTimeout: 'escalate' }), level('finance')]);
    const { next, events } = timeOutLevel(state, LATER);
    expect(events).toEqual([]);
    expect(next).toMatchObject({ status: 'pending', currentLevel: 2 });
    expect(next.levels.map(({ status, startedAt, endedAt }) => ({ status, startedAt, endedAt }))).toEqual([
      { status: 'timed_out', startedAt: OPENED, endedAt: LATER },
      { status: 'pending', startedAt: LATER, endedAt: null },
    ]);
    expect(next.timeline.at(-1)).toEqual({ at: LATER, type: 'level_timed_out', level: 1, detail: 'escalate' });
  });

  it('escalates after the last level to an added platform_admin level that waits without a timeout', () => {
    const state = open([level('OWNER', { timeoutHours: 24, onTimeout: 'escalate' })]);
    const { next, events } = timeOutLevel(state, LATER);
    expect(events).toEqual([]);
    expect(next).toMatchObject({ status: 'pending', currentLevel: 2 });
    expect(next.levels[1]).toEqual({
      role: 'platform_admin',
      approvers: [],
      quorum: 1,
      timeoutHours: null,
      onTimeout: null,
      level: 2,
      status: 'pending',
      decisions: [],
      startedAt: LATER,
      endedAt: null,
      escalation: true,
    });
    expect(next.timeline.slice(-2)).toEqual([
      { at: LATER, type: 'level_timed_out', level: 1, detail: 'escalate' },
      { at: LATER, type: 'escalated', level: 2 },
    ]);
    expect(levelDeadline(next)).toBeNull();
    expect(currentAssignment(next)).toEqual({ role: 'platform_admin', approvers: [], decidedBy: [] });
    expect(refusalOf(next, finance('fin'))).toEqual(expect.objectContaining({ code: 'not_an_approver' }));

    const approved = decideApproval(next, platformAdmin('pat'), 'approve', null, LATEST);
    expect(approved.events).toEqual(['approval.level_approved', 'approval.approved']);
    expect(approved.next.status).toBe('approved');
  });

  it('lets the request expire with reject', () => {
    const state = open([level('OWNER', { timeoutHours: 24, onTimeout: 'reject' }), level('finance')]);
    const { next, events } = timeOutLevel(state, LATER);
    expect(events).toEqual(['approval.expired']);
    expect(next).toMatchObject({ status: 'expired', currentLevel: 1, decidedAt: LATER });
    expect(next.levels.map((each) => each.status)).toEqual(['timed_out', 'waiting']);
    expect(next.timeline.slice(-2)).toEqual([
      { at: LATER, type: 'level_timed_out', level: 1, detail: 'reject' },
      { at: LATER, type: 'expired', level: 1 },
    ]);
  });

  it('counts the level as approved with approve: the next level starts, or the request is approved after the last', () => {
    const state = open([level('OWNER', { timeoutHours: 24, onTimeout: 'approve' }), level('finance', { timeoutHours: 2, onTimeout: 'approve' })]);
    const first = timeOutLevel(state, LATER);
    expect(first.events).toEqual(['approval.level_approved']);
    expect(first.next).toMatchObject({ status: 'pending', currentLevel: 2 });
    expect(first.next.levels.map((each) => each.status)).toEqual(['approved', 'pending']);

    const last = timeOutLevel(first.next, LATEST);
    expect(last.events).toEqual(['approval.level_approved', 'approval.approved']);
    expect(last.next).toMatchObject({ status: 'approved', decidedAt: LATEST });
    expect(last.next.levels.map((each) => [each.status, each.endedAt])).toEqual([
      ['approved', LATER],
      ['approved', LATEST],
    ]);
  });

  it('keeps the decisions made before the timer fired', () => {
    const state = decideApproval(open([level('finance', { quorum: 2, timeoutHours: 24, onTimeout: 'escalate' }), level('OWNER')]), finance('ann'), 'approve', null, LATER).next;
    const { next } = timeOutLevel(state, LATEST);
    expect(next.levels[0]).toMatchObject({ status: 'timed_out', decisions: [expect.objectContaining({ userId: 'ann' })] });
    expect(refusalOf(next, owner('ann'))).toEqual(expect.objectContaining({ code: 'already_decided' }));
  });

  it('does nothing for a level without a timeout or a request no longer pending', () => {
    const untimed = open([level('OWNER')]);
    expect(timeOutLevel(untimed, LATER)).toEqual({ next: untimed, events: [] });
    const decided = decideApproval(open([level('OWNER', { timeoutHours: 1, onTimeout: 'reject' })]), owner('ann'), 'approve', null, LATER).next;
    expect(timeOutLevel(decided, LATEST)).toEqual({ next: decided, events: [] });
  });
});

describe('cancelApproval', () => {
  it('lets the requester withdraw a pending request', () => {
    const { next, events } = cancelApproval(open([level('OWNER')]), 'requester', LATER);
    expect(events).toEqual(['approval.canceled']);
    expect(next).toMatchObject({ status: 'canceled', decidedAt: LATER });
    expect(next.timeline.at(-1)).toEqual({ at: LATER, type: 'canceled', userId: 'requester' });
    expect(currentAssignment(next)).toBeNull();
  });

  it('refuses anyone but the requester', () => {
    const state = open([level('OWNER')]);
    expect(cancelRefusalOf(state, 'ann')).toEqual(expect.objectContaining({ code: 'not_the_requester' }));
    expect(() => cancelApproval(state, 'ann', LATER)).toThrow('requester');
  });

  it('refuses a request no longer pending', () => {
    const approved = decideApproval(open([level('OWNER')]), owner('ann'), 'approve', null, LATER).next;
    expect(cancelRefusalOf(approved, 'requester')).toEqual(expect.objectContaining({ code: 'already_decided' }));
    const canceled = cancelApproval(open([level('OWNER')]), 'requester', LATER).next;
    expect(cancelRefusalOf(canceled, 'requester')).toEqual(expect.objectContaining({ code: 'already_decided' }));
  });
});

describe('recordExecution', () => {
  const approved = decideApproval(open([level('OWNER')]), owner('ann'), 'approve', null, LATER).next;

  it('records what the action made, leaving the status approved', () => {
    const next = recordExecution(approved, { status: 'executed', at: LATEST, resultId: 'cn-1', detail: null });
    expect(next).toMatchObject({ status: 'approved', execution: { status: 'executed', at: LATEST, resultId: 'cn-1', detail: null } });
    expect(next.timeline.at(-1)).toEqual({ at: LATEST, type: 'executed' });
  });

  it('records a failed execution with why', () => {
    const next = recordExecution(approved, { status: 'failed', at: LATEST, resultId: null, detail: 'the invoice was voided' });
    expect(next).toMatchObject({ status: 'approved', execution: { status: 'failed', detail: 'the invoice was voided' } });
    expect(next.timeline.at(-1)).toEqual({ at: LATEST, type: 'execution_failed', detail: 'the invoice was voided' });
  });
});

describe('currentAssignment', () => {
  it('names the current level role, its named approvers and everyone who decided so far', () => {
    const state = open([level('finance'), level('BILLING_ADMIN', { approvers: ['ann', 'bob'], quorum: 2 })]);
    expect(currentAssignment(state)).toEqual({ role: 'finance', approvers: [], decidedBy: [] });
    const second = decideApproval(state, finance('fin'), 'approve', null, LATER).next;
    expect(currentAssignment(second)).toEqual({ role: 'BILLING_ADMIN', approvers: ['ann', 'bob'], decidedBy: ['fin'] });
    const third = decideApproval(second, person('ann', 'BILLING_ADMIN'), 'approve', null, LATEST).next;
    expect(currentAssignment(third)).toEqual({ role: 'BILLING_ADMIN', approvers: ['ann', 'bob'], decidedBy: ['fin', 'ann'] });
  });

  it('is null once the request is decided', () => {
    expect(currentAssignment(decideApproval(open([level('OWNER')]), owner('ann'), 'approve', null, LATER).next)).toBeNull();
  });
});
