import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { WorkflowUpdateFailedError, type WorkflowHandle } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import temporalProtos from '@temporalio/proto';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import type { ApprovalActivities } from '../../activities/approvals.js';
import { openApproval, type ApprovalLevelSpec, type Approver } from '../../src/domain/index.js';
import {
  approvalSearchAttributes,
  approvalStateQuery,
  cancelApprovalUpdate,
  decideApprovalUpdate,
  type ApprovalExecuteInput,
  type ApprovalRequestState,
  type ApprovalStateWrite,
} from '../../workflows/messages/approval.js';
import type { approvalRequest } from '../../workflows/approval.js';
import { sharedServer } from '../support/servers.js';
import { recordHistory } from './support/subscriptions.js';

const testServer = fileURLToPath(new URL('../../.tools/bin/temporal-test-server', import.meta.url));
const taskQueue = 'approvals';

let env: TestWorkflowEnvironment;
beforeAll(async () => {
  Runtime.install({ logger: new DefaultLogger('ERROR') });
  env = await TestWorkflowEnvironment.createTimeSkipping({ server: { executable: { type: 'existing-path', path: testServer } } });
  const keyword = temporalProtos.temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD;
  await env.connection.operatorService.addSearchAttributes({
    namespace: 'default',
    searchAttributes: Object.fromEntries(Object.values(approvalSearchAttributes).map((attribute) => [attribute.name, keyword])),
  });
}, 120_000);
afterAll(async () => {
  await env?.teardown();
});

/** What the fake activities saw: every write, every execution, and whether the row "committed". */
interface FakeDatabase {
  committed: boolean;
  writes: ApprovalStateWrite[];
  executions: ApprovalExecuteInput[];
}

function fakeActivities(db: FakeDatabase): ApprovalActivities {
  return {
    confirmApprovalRequest: async (requestId) => {
      if (!db.committed) throw ApplicationFailure.nonRetryable(`no approval request ${requestId}`);
    },
    writeApprovalTransition: async (write) => {
      db.writes.push(write);
    },
    executeApprovedSubject: async (input) => {
      db.executions.push(input);
      return { status: 'executed', resultId: `credit-note-for-${input.requestId}`, detail: null };
    },
    carryOutAndRecord: async (approved) => {
      db.executions.push({ requestId: approved.id, subjectType: approved.subjectType });
      return { status: 'executed', resultId: `credit-note-for-${approved.id}`, detail: null, at: approved.decidedAt ?? approved.timeline.at(-1)!.at };
    },
  };
}

const level = (spec: Partial<ApprovalLevelSpec> & Pick<ApprovalLevelSpec, 'role'>): ApprovalLevelSpec => ({ approvers: [], quorum: 1, timeoutHours: null, onTimeout: null, ...spec });
const finance = (userId: string): Approver => ({ userId, isPerson: true, platformRole: 'finance', organizationRole: null });
const admin = (userId: string): Approver => ({ userId, isPerson: true, platformRole: 'platform_admin', organizationRole: null });
const owner = (userId: string): Approver => ({ userId, isPerson: true, platformRole: null, organizationRole: 'OWNER' });

let sequence = 0;
async function withRequest(levels: ApprovalLevelSpec[], run: (handle: WorkflowHandle<typeof approvalRequest>, db: FakeDatabase) => Promise<void>, options: { committed?: boolean } = {}) {
  sequence += 1;
  const db: FakeDatabase = { committed: options.committed ?? true, writes: [], executions: [] };
  const worker = await Worker.create({ connection: env.nativeConnection, taskQueue, workflowBundle: { codePath: sharedServer('workflowBundle') }, activities: fakeActivities(db) });
  const id = `request-${sequence}`;
  const request = openApproval({ id, organizationId: 'org-1', subjectType: 'credit_note', requestedBy: 'requester', levels }, new Date(await env.currentTimeMs()).toISOString());
  await worker.runUntil(async () => {
    const handle = await env.client.workflow.start<typeof approvalRequest>('approvalRequest', { workflowId: `approval:${id}`, taskQueue, args: [{ request }] });
    await run(handle, db);
  });
}

const decide = (handle: WorkflowHandle<typeof approvalRequest>, approver: Approver, decision: 'approve' | 'reject' = 'approve') =>
  handle.executeUpdate(decideApprovalUpdate, { args: [{ approver, decision, comment: null }] });

async function refusalCode(promise: Promise<unknown>): Promise<string | undefined> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof WorkflowUpdateFailedError && error.cause instanceof ApplicationFailure) return (error.cause.details?.[0] as { code: string }).code;
    throw error;
  }
  return undefined;
}

async function acceptedUpdates(handle: WorkflowHandle): Promise<number> {
  const history = await handle.fetchHistory();
  return (history.events ?? []).filter((event) => event.workflowExecutionUpdateAcceptedEventAttributes).length;
}

describe('approvalRequest in the time-skipping environment', () => {
  it('goes through three levels with a quorum of 2 at level 2, then carries out the action once', async () => {
    await withRequest([level({ role: 'finance' }), level({ role: 'finance', quorum: 2 }), level({ role: 'platform_admin' })], async (handle, db) => {
      expect((await decide(handle, finance('f1'))).currentLevel).toBe(2);
      const halfway = await decide(handle, finance('f2'));
      expect(halfway.currentLevel).toBe(2);
      expect(halfway.levels[1]?.status).toBe('pending');
      expect((await decide(handle, finance('f3'))).currentLevel).toBe(3);
      expect((await decide(handle, admin('a1'))).status).toBe('approved');
      const final: ApprovalRequestState = await handle.result();
      expect(final.execution).toMatchObject({ status: 'executed', resultId: `credit-note-for-${final.id}` });
      expect(db.executions).toHaveLength(1);
      expect(db.writes.flatMap((write) => write.events)).toEqual(['approval.level_approved', 'approval.level_approved', 'approval.level_approved', 'approval.approved']);
      await recordHistory('approval-three-levels', handle);
    });
  });

  it('refuses the requester and a second decision by one person before either enters history', async () => {
    await withRequest([level({ role: 'finance' }), level({ role: 'finance' })], async (handle, db) => {
      expect(await refusalCode(decide(handle, finance('requester')))).toBe('not_an_approver');
      await decide(handle, finance('f1'));
      expect(await refusalCode(decide(handle, finance('f1')))).toBe('already_decided');
      expect(await refusalCode(decide(handle, owner('o1')))).toBe('not_an_approver');
      expect(await refusalCode(decide(handle, { ...finance('key-1'), isPerson: false }))).toBe('not_an_approver');
      expect(await acceptedUpdates(handle)).toBe(1);
      expect(db.writes).toHaveLength(1);
      expect((await handle.query(approvalStateQuery)).status).toBe('pending');
      await handle.terminate('test over');
    });
  });

  it('escalates a silent level to the next, and after the last to an added platform_admin level', async () => {
    await withRequest([level({ role: 'finance', timeoutHours: 24, onTimeout: 'escalate' }), level({ role: 'finance', timeoutHours: 48, onTimeout: 'escalate' })], async (handle, db) => {
      await env.sleep('25 hours');
      expect((await handle.query(approvalStateQuery)).currentLevel).toBe(2);
      await env.sleep('49 hours');
      const escalated = await handle.query(approvalStateQuery);
      expect(escalated.currentLevel).toBe(3);
      expect(escalated.levels[2]).toMatchObject({ role: 'platform_admin', escalation: true, status: 'pending' });
      expect(await refusalCode(decide(handle, finance('f1')))).toBe('not_an_approver');
      expect((await decide(handle, admin('a1'))).status).toBe('approved');
      await handle.result();
      expect(db.executions).toHaveLength(1);
      await recordHistory('approval-escalation', handle);
    });
  });

  it('expires on a timeout that rejects, carrying out nothing', async () => {
    await withRequest([level({ role: 'finance', timeoutHours: 72, onTimeout: 'reject' })], async (handle, db) => {
      await env.sleep('73 hours');
      const final = await handle.result();
      expect(final.status).toBe('expired');
      expect(db.writes.flatMap((write) => write.events)).toEqual(['approval.expired']);
      expect(db.executions).toEqual([]);
    });
  });

  it('handles a decision during a level timer at once, and the timer of a decided level never fires', async () => {
    await withRequest([level({ role: 'finance', timeoutHours: 72, onTimeout: 'reject' })], async (handle, db) => {
      await env.sleep('1 hour');
      expect((await decide(handle, finance('f1'))).status).toBe('approved');
      const final = await handle.result();
      expect(final.status).toBe('approved');
      expect(final.timeline.map((entry) => entry.type)).not.toContain('level_timed_out');
      expect(db.executions).toHaveLength(1);
    });
  });

  it('rejects on one rejection, and lets only the requester cancel', async () => {
    await withRequest([level({ role: 'finance', quorum: 2 })], async (handle, db) => {
      expect((await decide(handle, finance('f1'), 'reject')).status).toBe('rejected');
      // A decided request's workflow has ended: the API answers later decisions from the row (409 already_decided).
      expect((await handle.result()).status).toBe('rejected');
      expect(db.executions).toEqual([]);
    });
    await withRequest([level({ role: 'finance' })], async (handle, db) => {
      expect(await refusalCode(handle.executeUpdate(cancelApprovalUpdate, { args: [{ userId: 'f1' }] }))).toBe('not_the_requester');
      expect((await handle.executeUpdate(cancelApprovalUpdate, { args: [{ userId: 'requester' }] })).status).toBe('canceled');
      await handle.result();
      expect(db.executions).toEqual([]);
    });
  });

  it('decides on the levels it started with: they are a snapshot, not the rule', async () => {
    await withRequest([level({ role: 'OWNER', approvers: ['o1'] })], async (handle) => {
      expect(await refusalCode(decide(handle, owner('o2')))).toBe('not_an_approver');
      expect((await decide(handle, owner('o1'))).status).toBe('approved');
      await handle.result();
    });
  });

  it('ends without acting when the request row never committed', async () => {
    await withRequest(
      [level({ role: 'finance' })],
      async (handle, db) => {
        const final = await handle.result();
        expect(final.status).toBe('pending');
        expect(db.writes).toEqual([]);
        expect(db.executions).toEqual([]);
      },
      { committed: false },
    );
  });
});
