import { ApplicationFailure, Context } from '@temporalio/activity';
import type { EntityManager } from '@mikro-orm/postgresql';
import { applicableApprovalRule, insertApprovalRequest } from '../src/approvals/open.js';
import type { Clock } from '../src/clock.js';
import { AuditEvent, ContractAmendment, ContractVersion, type Contract } from '../src/db/entities/index.js';
import type { Orm } from '../src/db/orm.js';
import { contractStateOf, latestVersionOf, lockContract, overlappingContract, recordContractEvent } from '../src/db/repositories/contracts.js';
import {
  addMonths,
  amendedTerms,
  amendmentRefusal,
  assertTermMonths,
  dateOfDay,
  formatDayOf,
  renewalRefusal,
  statusAfter,
  terminationRefusal,
  upliftedTerms,
  validateContractTerms,
  type ContractRefusal,
} from '../src/domain/index.js';
import type { Logger } from '../src/logger.js';
import { workflowIds } from '../src/temporal/workflow-ids.js';
import { dispatchWebhookEvents } from '../src/webhooks/outbox.js';
import {
  contractRefusalFailureType,
  type AmendContractRequest,
  type AmendmentPlan,
  type ContractOrigin,
  type ContractState,
  type ContractStepKind,
  type RenewContractRequest,
  type TerminateContractRequest,
} from '../workflows/messages/contract.js';
import { withDomainFailures } from './domain-failures.js';

export interface ContractActivityDeps {
  orm: Orm;
  clock: Clock;
  logger: Logger;
}

function refused(refusal: ContractRefusal | { code: string; status: 409 | 422; message: string }): never {
  throw ApplicationFailure.create({ message: refusal.message, type: contractRefusalFailureType, nonRetryable: true, details: [{ code: refusal.code, status: refusal.status }] });
}

const stepEvents: Record<ContractStepKind, string> = {
  activate: 'contract.activated',
  notice: 'contract.renewal_upcoming',
  terminate: 'contract.terminated',
  end: 'contract.expired',
};

/**
 * The steps of `contract:<id>`. Each runs in its own transaction on the locked contract and is
 * idempotent: a step already taken (the state moved on) answers the state as it is. Every change
 * writes its audit row and records its `contract.*` event with it.
 */
export function createContractActivities({ orm, clock, logger }: ContractActivityDeps) {
  async function dispatch(eventIds: string[]): Promise<void> {
    if (eventIds.length === 0) return;
    const { client, info } = Context.current();
    await dispatchWebhookEvents({ temporal: client, taskQueue: info.taskQueue, orm, logger }, eventIds);
  }

  async function onContract<T>(contractId: string, work: (tx: EntityManager, contract: Contract) => Promise<{ result: T; eventIds: string[] }>): Promise<T> {
    const { result, eventIds } = await orm.em.fork().transactional(async (tx) => {
      const contract = await lockContract(tx, contractId);
      if (!contract) throw ApplicationFailure.nonRetryable(`no contract ${contractId}`, 'ContractNotFound');
      return work(tx, contract);
    });
    await dispatch(eventIds);
    return result;
  }

  const stateOf = async (tx: EntityManager, contract: Contract) => contractStateOf(contract, (await latestVersionOf(tx, contract.id)).effectiveFrom);

  function audit(tx: EntityManager, contract: Contract, action: string, origin: ContractOrigin | null, after: Record<string, unknown>): void {
    tx.create(AuditEvent, {
      occurredAt: clock.now(),
      actorType: origin?.actorType ?? 'workflow',
      actorId: origin?.actorId ?? workflowIds.contract(contract.id),
      organizationId: contract.organization.id,
      action,
      targetType: 'contract',
      targetId: contract.id,
      before: null,
      after,
      requestId: origin?.requestId ?? workflowIds.contract(contract.id),
    });
  }

  /** A new term from the current end: `months` long, its version the latest terms with the renewal uplift. */
  async function renew(tx: EntityManager, contract: Contract, months: number, origin: ContractOrigin | null): Promise<string[]> {
    const state = await stateOf(tx, contract);
    const newEnd = addMonths(state.endDate, assertTermMonths(months));
    const overlapping = await overlappingContract(tx, contract.organization.id, state.endDate, newEnd, contract.id);
    if (overlapping) refused({ code: 'contract_overlaps', status: 409, message: `Renewed to ${newEnd}, the contract would overlap contract ${overlapping} of the organization.` });
    const latest = await latestVersionOf(tx, contract.id);
    const now = clock.now();
    contract.version += 1;
    tx.create(ContractVersion, { contract, version: contract.version, effectiveFrom: contract.endDate, terms: upliftedTerms(latest.terms, contract.renewalUpliftPercent), reason: `renewed for ${months} months`, createdAt: now });
    contract.endDate = dateOfDay(newEnd);
    // A contract renewed before it starts is still scheduled: its activation comes on its start day.
    if (contract.status !== 'draft') contract.status = 'active';
    contract.updatedAt = now;
    audit(tx, contract, 'contract.renewed', origin, { version: contract.version, endDate: newEnd });
    return [await recordContractEvent(tx, contract, 'contract.renewed')];
  }

  return withDomainFailures({
    /** Fails (and is retried) until the API's transaction that created the contract has committed. */
    async loadContract(contractId: string): Promise<ContractState> {
      const state = await orm.em.fork().transactional(async (tx) => {
        const contract = await lockContract(tx, contractId);
        return contract && stateOf(tx, contract);
      });
      if (!state) throw ApplicationFailure.retryable(`contract ${contractId} is not committed (yet)`, 'ContractMissing');
      return state;
    },

    /**
     * The step the workflow's timer reached: activation, the renewal notice, a scheduled termination
     * or the end (renewed when it auto-renews, else expired). `on` is the day it was due: a step the
     * contract has moved past since is not taken again.
     */
    async takeContractStep(input: { contractId: string; kind: ContractStepKind; on: string }): Promise<ContractState> {
      return onContract(input.contractId, async (tx, contract) => {
        const state = await stateOf(tx, contract);
        const due =
          input.kind === 'activate'
            ? state.status === 'draft'
            : input.kind === 'notice'
              ? state.noticeSentFor !== state.endDate && input.on < state.endDate
              : input.kind === 'terminate'
                ? state.terminatesOn === input.on && state.status !== 'terminated'
                : state.endDate === input.on && state.status !== 'expired' && state.status !== 'terminated';
        if (!due) return { result: state, eventIds: [] };
        const now = clock.now();
        if (input.kind === 'end' && state.autoRenew) {
          try {
            const eventIds = await renew(tx, contract, contract.renewalTermMonths, null);
            return { result: await stateOf(tx, contract), eventIds };
          } catch (error) {
            // A renewal that would overlap the organization's next contract does not happen: the contract expires.
            if (!(error instanceof ApplicationFailure) || error.type !== contractRefusalFailureType) throw error;
            logger.warn({ contractId: contract.id }, 'auto-renewal would overlap another contract; the contract expires');
            contract.status = 'expired';
          }
        } else {
          contract.status = statusAfter(input.kind, state);
        }
        if (input.kind === 'notice') contract.noticeSentFor = contract.endDate;
        contract.updatedAt = now;
        const type = input.kind === 'end' ? 'contract.expired' : stepEvents[input.kind];
        audit(tx, contract, type, null, { status: contract.status, on: input.on });
        return { result: await stateOf(tx, contract), eventIds: [await recordContractEvent(tx, contract, type)] };
      });
    },

    /** Renews now: the next term starts at the current end (with the uplift), `termMonths` long. */
    async renewContract(input: RenewContractRequest & { contractId: string }): Promise<ContractState> {
      return onContract(input.contractId, async (tx, contract) => {
        const refusal = renewalRefusal(await stateOf(tx, contract));
        if (refusal) refused(refusal);
        const eventIds = await renew(tx, contract, input.termMonths ?? contract.renewalTermMonths, input.origin);
        return { result: await stateOf(tx, contract), eventIds };
      });
    },

    /** Schedules the termination for its day, or terminates now when that is today; the fee is billed from that day. */
    async terminateContract(input: TerminateContractRequest & { contractId: string }): Promise<ContractState> {
      return onContract(input.contractId, async (tx, contract) => {
        const state = await stateOf(tx, contract);
        if (state.terminatesOn === input.on) return { result: state, eventIds: [] };
        const today = formatDayOf(clock.now().getTime());
        const refusal = terminationRefusal(state, input.on, today);
        if (refusal) refused(refusal);
        const now = clock.now();
        contract.terminatesOn = dateOfDay(input.on);
        contract.terminationReason = input.reason;
        contract.updatedAt = now;
        const immediate = input.on === today;
        if (immediate) contract.status = 'terminated';
        audit(tx, contract, immediate ? 'contract.terminated' : 'contract.termination_scheduled', input.origin, { terminatesOn: input.on, reason: input.reason, terminationFee: contract.terminationFee });
        const eventIds = immediate ? [await recordContractEvent(tx, contract, 'contract.terminated')] : [];
        return { result: await stateOf(tx, contract), eventIds };
      });
    },

    /**
     * An amendment, checked against the contract: applied at once as a new version, or, when a
     * `contract_amendment` rule matches the amended committed amount, recorded as waiting and its
     * approval request opened (the workflow runs it as its child).
     */
    async planAmendment(input: AmendContractRequest & { contractId: string }): Promise<AmendmentPlan> {
      return onContract<AmendmentPlan>(input.contractId, async (tx, contract) => {
        const existing = await tx.findOne(ContractAmendment, { id: input.amendmentId });
        const outcomeOf = (amendment: ContractAmendment) => ({ amendmentId: amendment.id, status: amendment.status, version: amendment.version ?? null, approvalRequestId: amendment.approvalRequestId ?? null });
        if (existing) return { result: { state: await stateOf(tx, contract), amendment: outcomeOf(existing), approval: null }, eventIds: [] };
        const state = await stateOf(tx, contract);
        const refusal = amendmentRefusal(state, input, state.latestVersionFrom);
        if (refusal) refused(refusal);
        const latest = await latestVersionOf(tx, contract.id);
        const terms = amendedTerms(latest.terms, input.changes);
        validateContractTerms(terms);
        const now = clock.now();
        const amendment = tx.create(ContractAmendment, {
          id: input.amendmentId,
          contract,
          changes: input.changes,
          effectiveAt: dateOfDay(input.effectiveAt),
          reason: input.reason,
          status: 'applied',
          version: null,
          approvalRequestId: null,
          requestedBy: input.requestedBy,
          createdAt: now,
          decidedAt: null,
        });
        const subject = { subjectType: 'contract_amendment' as const, organizationId: contract.organization.id, amount: terms.committedAmount, currency: null };
        const rule = await applicableApprovalRule(tx, subject);
        if (rule) {
          const opened = await insertApprovalRequest(tx, now, {
            ...subject,
            id: crypto.randomUUID(),
            subjectId: contract.id,
            payload: { contractId: contract.id, amendmentId: amendment.id },
            title: `Amend contract ${contract.name} from ${input.effectiveAt}`,
            description: input.reason,
            requestedBy: input.requestedBy,
            ruleId: rule.id,
            levels: rule.levels,
          });
          amendment.status = 'pending_approval';
          amendment.approvalRequestId = opened.request.id;
          audit(tx, contract, 'contract.amendment_requested', input.origin, { amendmentId: amendment.id, changes: input.changes, effectiveAt: input.effectiveAt, approvalRequestId: opened.request.id });
          await tx.flush();
          return { result: { state, amendment: outcomeOf(amendment), approval: opened.state }, eventIds: opened.eventIds };
        }
        const eventIds = await applyTerms(tx, contract, amendment, terms, input.origin);
        return { result: { state: await stateOf(tx, contract), amendment: outcomeOf(amendment), approval: null }, eventIds };
      });
    },

    /** The amendment's approval ended: approved, it becomes a new version; otherwise it is rejected. */
    async decideAmendment(input: { contractId: string; amendmentId: string; approved: boolean }): Promise<ContractState> {
      return onContract(input.contractId, async (tx, contract) => {
        const amendment = await tx.findOneOrFail(ContractAmendment, { id: input.amendmentId });
        if (amendment.status !== 'pending_approval') return { result: await stateOf(tx, contract), eventIds: [] };
        if (!input.approved) {
          amendment.status = 'rejected';
          amendment.decidedAt = clock.now();
          audit(tx, contract, 'contract.amendment_rejected', null, { amendmentId: amendment.id });
          return { result: await stateOf(tx, contract), eventIds: [] };
        }
        const latest = await latestVersionOf(tx, contract.id);
        const eventIds = await applyTerms(tx, contract, amendment, amendedTerms(latest.terms, amendment.changes), null);
        return { result: await stateOf(tx, contract), eventIds };
      });
    },
  });

  /** The amendment's terms as the next version, from its effective day. */
  async function applyTerms(tx: EntityManager, contract: Contract, amendment: ContractAmendment, terms: ContractVersion['terms'], origin: ContractOrigin | null): Promise<string[]> {
    const now = clock.now();
    contract.version += 1;
    tx.create(ContractVersion, { contract, version: contract.version, effectiveFrom: amendment.effectiveAt, terms, reason: amendment.reason, createdAt: now });
    amendment.status = 'applied';
    amendment.version = contract.version;
    amendment.decidedAt = now;
    contract.updatedAt = now;
    audit(tx, contract, 'contract.amended', origin, { amendmentId: amendment.id, version: contract.version, changes: amendment.changes });
    return [await recordContractEvent(tx, contract, 'contract.amended')];
  }
}

export type ContractActivities = ReturnType<typeof createContractActivities>;
