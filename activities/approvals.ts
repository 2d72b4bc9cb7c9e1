import { ApplicationFailure, Context } from '@temporalio/activity';
import type { EntityManager } from '@mikro-orm/postgresql';
import type Stripe from 'stripe';
import { ApprovalSubjectRefusal, approvalSubjectFor } from '../src/approvals/subjects/index.js';
import type { Clock } from '../src/clock.js';
import type { Orm } from '../src/db/orm.js';
import { approvalVersionOf, findApprovalRequest, lockApprovalRequest, writeApprovalState } from '../src/db/repositories/approvals.js';
import { AuditEvent } from '../src/db/entities/index.js';
import type { Logger } from '../src/logger.js';
import { dispatchWebhookEvents, recordWebhookEvent } from '../src/webhooks/outbox.js';
import { recordExecution, type ApprovalExecution, type ApprovalRequestState } from '../src/domain/index.js';
import type { ApprovalExecuteInput, ApprovalExecutionResult, ApprovalStateWrite } from '../workflows/messages/approval.js';
import { withDomainFailures } from './domain-failures.js';
import { workflowIds } from '../src/temporal/workflow-ids.js';

export interface ApprovalActivityDeps {
  orm: Orm;
  stripe: Stripe;
  clock: Clock;
  logger: Logger;
}

export function createApprovalActivities({ orm, stripe, clock, logger }: ApprovalActivityDeps) {
  async function dispatch(eventIds: string[]): Promise<void> {
    if (eventIds.length === 0) return;
    const { client, info } = Context.current();
    await dispatchWebhookEvents({ temporal: client, taskQueue: info.taskQueue, orm, logger }, eventIds);
  }

  /** One transition in the caller's transaction: the row (unless it holds this or a later state), its webhook events and its audit row. */
  async function recordTransition(tx: EntityManager, write: ApprovalStateWrite): Promise<string[]> {
    const { state } = write;
    const subject = await writeApprovalState(tx, state);
    if (!subject) return [];
    const data = {
      id: state.id,
      organizationId: state.organizationId,
      subjectType: state.subjectType,
      subjectId: subject.subjectId,
      status: state.status,
      currentLevel: state.currentLevel,
      requestedBy: state.requestedBy,
      amount: subject.amount,
      currency: subject.currency,
      decidedAt: state.decidedAt,
    };
    const ids: string[] = [];
    for (const type of write.events) {
      ids.push(await recordWebhookEvent(tx, { organizationId: state.organizationId, type, data, dedupeKey: `${type}:${state.id}:${approvalVersionOf(state)}` }));
    }
    tx.create(AuditEvent, {
      occurredAt: clock.now(),
      // As every workflow's own audit row: a timer's and the action's name the workflow.
      actorType: write.origin?.actorType ?? 'workflow',
      actorId: write.origin?.actorId ?? workflowIds.approval(state.id),
      organizationId: state.organizationId,
      action: write.auditAction,
      targetType: 'approval_request',
      targetId: state.id,
      before: null,
      after: { status: state.status, currentLevel: state.currentLevel, last: state.timeline.at(-1) ?? null, execution: state.execution },
      requestId: write.origin?.requestId ?? workflowIds.approval(state.id),
    });
    return ids;
  }

  return withDomainFailures({
    /** Fails (and is retried) until the API's transaction that opened the request has committed. */
    async confirmApprovalRequest(requestId: string): Promise<void> {
      if (!(await findApprovalRequest(orm.em.fork(), requestId))) throw ApplicationFailure.retryable(`approval request ${requestId} is not committed (yet)`, 'ApprovalRequestMissing');
    },

    /** Writes one transition: the row, its webhook events and its audit row, together or not at all. */
    async writeApprovalTransition(write: ApprovalStateWrite): Promise<void> {
      await dispatch(await orm.em.fork().transactional((tx) => recordTransition(tx, write)));
    },

    /** Carries out the approved action once: a request whose execution is recorded answers it again. */
    async executeApprovedSubject(input: ApprovalExecuteInput): Promise<ApprovalExecutionResult> {
      try {
        const { result, eventIds } = await orm.em.fork().transactional(async (tx) => {
          const request = await lockApprovalRequest(tx, input.requestId);
          if (!request) throw ApplicationFailure.nonRetryable(`approval request ${input.requestId} not found`);
          if (request.execution) return { result: { status: request.execution.status, resultId: request.execution.resultId, detail: request.execution.detail }, eventIds: [] };
          const outcome = await approvalSubjectFor(input.subjectType).carryOut(tx, request, { stripe, clock, logger });
          return { result: { status: 'executed' as const, resultId: outcome.resultId, detail: null }, eventIds: outcome.eventIds };
        });
        await dispatch(eventIds);
        return result;
      } catch (error) {
        // Rolled back: nothing of the action stays, and the request records why it was not carried out.
        if (error instanceof ApprovalSubjectRefusal) return { status: 'failed', resultId: null, detail: error.message };
        throw error;
      }
    },

    /**
     * Carries out the approved action and records its execution in one transaction, so the action
     * exists exactly when the request says it ran; a retry after the commit finds the record and
     * answers it. A subject that refuses rolls back and the failure is recorded instead.
     */
    async carryOutAndRecord(approved: ApprovalRequestState): Promise<ApprovalExecution> {
      const recordAs = (tx: EntityManager, execution: ApprovalExecution) =>
        recordTransition(tx, { state: recordExecution(approved, execution), events: [], auditAction: 'approval_request.executed' });
      try {
        const { execution, eventIds } = await orm.em.fork().transactional(async (tx) => {
          const request = await lockApprovalRequest(tx, approved.id);
          if (!request) throw ApplicationFailure.nonRetryable(`approval request ${approved.id} not found`);
          if (request.execution) return { execution: request.execution, eventIds: [] };
          const outcome = await approvalSubjectFor(approved.subjectType).carryOut(tx, request, { stripe, clock, logger });
          const executed: ApprovalExecution = { status: 'executed', resultId: outcome.resultId, detail: null, at: clock.now().toISOString() };
          return { execution: executed, eventIds: [...outcome.eventIds, ...(await recordAs(tx, executed))] };
        });
        await dispatch(eventIds);
        return execution;
      } catch (error) {
        if (!(error instanceof ApprovalSubjectRefusal)) throw error;
        const failed: ApprovalExecution = { status: 'failed', resultId: null, detail: error.message, at: clock.now().toISOString() };
        await dispatch(await orm.em.fork().transactional((tx) => recordAs(tx, failed)));
        return failed;
      }
    },
  });
}

export type ApprovalActivities = ReturnType<typeof createApprovalActivities>;
