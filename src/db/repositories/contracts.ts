import { LockMode } from '@mikro-orm/core';
import type { EntityManager } from '@mikro-orm/postgresql';
import { dateOfDay, dayOfDate } from '../../domain/index.js';
import type { ContractState } from '../../../workflows/messages/contract.js';
import { Contract, ContractAmendment, ContractVersion } from '../entities/index.js';
import { sql } from '../sql.js';
import { workflowIds } from '../../temporal/workflow-ids.js';
import { recordWebhookEvent } from './webhook-events.js';

/** The contract, locked until the caller's transaction ends: its workflow's steps and the API take turns. */
export function lockContract(em: EntityManager, contractId: string): Promise<Contract | null> {
  return em.findOne(Contract, { id: contractId }, { lockMode: LockMode.PESSIMISTIC_WRITE });
}

export function versionsOf(em: EntityManager, contractIds: readonly string[]): Promise<ContractVersion[]> {
  if (contractIds.length === 0) return Promise.resolve([]);
  return em.find(ContractVersion, { contract: { $in: [...contractIds] } }, { orderBy: { effectiveFrom: 'asc', version: 'asc' } });
}

export function amendmentsOf(em: EntityManager, contractIds: readonly string[]): Promise<ContractAmendment[]> {
  if (contractIds.length === 0) return Promise.resolve([]);
  return em.find(ContractAmendment, { contract: { $in: [...contractIds] } }, { orderBy: { createdAt: 'asc', id: 'asc' } });
}

export async function latestVersionOf(em: EntityManager, contractId: string): Promise<ContractVersion> {
  const [latest] = await em.find(ContractVersion, { contract: contractId }, { orderBy: { version: 'desc' }, limit: 1 });
  if (!latest) throw new Error(`contract ${contractId} has no version`);
  return latest;
}

/** A contract as its workflow holds it. */
export function contractStateOf(contract: Contract, latestVersionFrom: Date): ContractState {
  return {
    id: contract.id,
    organizationId: contract.organization.id,
    status: contract.status,
    startDate: dayOfDate(contract.startDate),
    endDate: dayOfDate(contract.endDate),
    noticeDays: contract.noticeDays,
    autoRenew: contract.autoRenew,
    renewalTermMonths: contract.renewalTermMonths,
    renewalUpliftPercent: contract.renewalUpliftPercent,
    terminatesOn: contract.terminatesOn ? dayOfDate(contract.terminatesOn) : null,
    noticeSentFor: contract.noticeSentFor ? dayOfDate(contract.noticeSentFor) : null,
    version: contract.version,
    latestVersionFrom: dayOfDate(latestVersionFrom),
  };
}

/** A contract as the API answers it and `contract.*` events carry it: its latest terms at the top, every version and amendment below. */
export function contractView(contract: Contract, versions: readonly ContractVersion[], amendments: readonly ContractAmendment[]) {
  const own = versions.filter((version) => version.contract.id === contract.id);
  const latest = [...own].sort((a, b) => a.version - b.version).at(-1);
  const terms = latest?.terms;
  return {
    id: contract.id,
    organizationId: contract.organization.id,
    name: contract.name,
    status: contract.status,
    startDate: dayOfDate(contract.startDate),
    endDate: dayOfDate(contract.endDate),
    autoRenew: contract.autoRenew,
    renewalTermMonths: contract.renewalTermMonths,
    renewalUpliftPercent: contract.renewalUpliftPercent,
    noticeDays: contract.noticeDays,
    discountPercent: terms?.discountPercent ?? '0',
    committedAmount: terms?.committedAmount ?? 0,
    commitmentPeriod: terms?.commitmentPeriod ?? 'month',
    priceOverrides: terms?.priceOverrides ?? [],
    sla: terms?.sla ?? null,
    terminationFee: contract.terminationFee,
    terminatesOn: contract.terminatesOn ? dayOfDate(contract.terminatesOn) : null,
    terminationReason: contract.terminationReason ?? null,
    version: contract.version,
    versions: own.map((version) => ({ version: version.version, effectiveFrom: dayOfDate(version.effectiveFrom), terms: version.terms, reason: version.reason })),
    amendments: amendments
      .filter((amendment) => amendment.contract.id === contract.id)
      .map((amendment) => ({
        id: amendment.id,
        version: amendment.version ?? null,
        changes: amendment.changes,
        effectiveAt: dayOfDate(amendment.effectiveAt),
        reason: amendment.reason,
        status: amendment.status,
        approvalRequestId: amendment.approvalRequestId ?? null,
      })),
    workflowId: workflowIds.contract(contract.id),
    createdAt: contract.createdAt.toISOString(),
  };
}

export async function contractViewOf(em: EntityManager, contract: Contract) {
  return contractView(contract, await versionsOf(em, [contract.id]), await amendmentsOf(em, [contract.id]));
}

/** Records a `contract.*` event: one per step (keyed by the contract's update time). */
export async function recordContractEvent(em: EntityManager, contract: Contract, type: string): Promise<string> {
  await em.flush();
  return recordWebhookEvent(em, { organizationId: contract.organization.id, type, data: await contractViewOf(em, contract), dedupeKey: `${type}:${contract.id}:${contract.updatedAt.toISOString()}` });
}

/** Another contract of the organization whose term overlaps [startDate, endDate) and has not ended before it, if any. */
export async function overlappingContract(em: EntityManager, organizationId: string, startDate: string, endDate: string, exceptId: string | null): Promise<string | null> {
  const [row] = await sql<{ id: string }>(
    em,
    `select id from contracts where organization_id = $1 and id <> coalesce($4::uuid, '00000000-0000-0000-0000-000000000000')
        and start_date < $3 and least(end_date, coalesce(terminates_on, end_date)) > $2 and start_date < least(end_date, coalesce(terminates_on, end_date))
      limit 1`,
    [organizationId, dateOfDay(startDate), dateOfDay(endDate), exceptId],
  );
  return row?.id ?? null;
}
