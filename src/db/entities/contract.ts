import { defineEntity, p } from '@mikro-orm/core';
import type { ContractTerms } from '../../domain/index.js';
import { Organization } from './organization.js';

export const contractStatusValues = ['draft', 'active', 'renewing', 'expired', 'terminated'] as const;
export type ContractStatus = (typeof contractStatusValues)[number];
export const amendmentStatusValues = ['pending_approval', 'applied', 'rejected'] as const;
export type AmendmentStatus = (typeof amendmentStatusValues)[number];

/**
 * A contract, as `contract:<id>` last wrote it. Days (start, end, termination) are UTC midnights.
 * `endDate` is the end of the current term: a renewal moves it on. Its terms are its versions.
 */
const ContractSchema = defineEntity({
  name: 'Contract',
  tableName: 'contracts',
  properties: {
    id: p.uuid().primary(),
    organization: () => p.manyToOne(Organization).deleteRule('cascade'),
    name: p.string().length(200),
    status: p.enum(contractStatusValues),
    startDate: p.datetime(),
    endDate: p.datetime(),
    autoRenew: p.boolean(),
    renewalTermMonths: p.integer(),
    renewalUpliftPercent: p.string().length(20),
    noticeDays: p.integer(),
    terminationFee: p.bigint('number'),
    /** The day a termination takes (or took) effect; terms stop applying from it. */
    terminatesOn: p.datetime().nullable(),
    terminationReason: p.text().nullable(),
    /** The term end whose renewal notice was sent (one notice per term). */
    noticeSentFor: p.datetime().nullable(),
    /** The latest version's number. */
    version: p.integer(),
    createdBy: p.string().length(200),
    createdAt: p.datetime(),
    updatedAt: p.datetime(),
  },
  indexes: [{ name: 'contracts_organization_index', properties: ['organization', 'startDate'] }],
  checks: [{ name: 'contracts_term_positive', expression: '"end_date" > "start_date"' }],
});

export class Contract extends ContractSchema.class {}
ContractSchema.setClass(Contract);

/** The terms from `effectiveFrom` on: version 1 at the start, one per applied amendment and renewal. */
const ContractVersionSchema = defineEntity({
  name: 'ContractVersion',
  tableName: 'contract_versions',
  properties: {
    contract: () => p.manyToOne(Contract).primary().deleteRule('cascade'),
    version: p.integer().primary(),
    effectiveFrom: p.datetime(),
    terms: p.json<ContractTerms>(),
    /** `created`, `renewed`, or the amendment's reason. */
    reason: p.text(),
    createdAt: p.datetime(),
  },
});

export class ContractVersion extends ContractVersionSchema.class {}
ContractVersionSchema.setClass(ContractVersion);

const ContractAmendmentSchema = defineEntity({
  name: 'ContractAmendment',
  tableName: 'contract_amendments',
  properties: {
    id: p.uuid().primary(),
    contract: () => p.manyToOne(Contract).deleteRule('cascade'),
    changes: p.json<Partial<ContractTerms>>(),
    effectiveAt: p.datetime(),
    reason: p.text(),
    status: p.enum(amendmentStatusValues),
    /** The version it made, once applied. */
    version: p.integer().nullable(),
    approvalRequestId: p.uuid().nullable(),
    requestedBy: p.string().length(200),
    createdAt: p.datetime(),
    decidedAt: p.datetime().nullable(),
  },
  indexes: [{ name: 'contract_amendments_contract_index', properties: ['contract', 'createdAt'] }],
});

export class ContractAmendment extends ContractAmendmentSchema.class {}
ContractAmendmentSchema.setClass(ContractAmendment);

/** A recorded SLA breach: one per contract and period, credited on the next invoice when below the SLA. */
const SlaBreachSchema = defineEntity({
  name: 'SlaBreach',
  tableName: 'contract_sla_breaches',
  properties: {
    id: p.uuid().primary(),
    contract: () => p.manyToOne(Contract).deleteRule('cascade'),
    periodStart: p.datetime(),
    periodEnd: p.datetime(),
    measuredUptimePercent: p.string().length(20),
    recordedBy: p.string().length(200),
    createdAt: p.datetime(),
  },
  uniques: [{ name: 'contract_sla_breaches_period_unique', properties: ['contract', 'periodStart'] }],
});

export class SlaBreach extends SlaBreachSchema.class {}
SlaBreachSchema.setClass(SlaBreach);
