import { defineQuery, defineUpdate } from '@temporalio/workflow';
import type { ContractLifecycle, ContractTerms } from '../../src/domain/index.js';
import type { ApprovalRequestState } from './approval.js';

/** `contract:<id>` as it stands; the workflow is the only writer of its lifecycle. */
export interface ContractState extends ContractLifecycle {
  id: string;
  organizationId: string;
  renewalTermMonths: number;
  renewalUpliftPercent: string;
  /** The latest version and the day it takes effect. */
  version: number;
  latestVersionFrom: string;
}

export interface ContractWorkflowInput {
  contractId: string;
}

/** Who sent an update through the API, as its audit row names them. */
export interface ContractOrigin {
  actorType: string;
  actorId: string;
  requestId: string;
}

export interface RenewContractRequest {
  /** Defaults to the contract's renewal term. */
  termMonths: number | null;
  origin: ContractOrigin;
}

export interface TerminateContractRequest {
  /** The day it takes effect (today: now). */
  on: string;
  reason: string;
  origin: ContractOrigin;
}

export interface AmendContractRequest {
  amendmentId: string;
  changes: Partial<ContractTerms>;
  effectiveAt: string;
  reason: string;
  requestedBy: string;
  origin: ContractOrigin;
}

export interface AmendmentOutcome {
  amendmentId: string;
  status: 'pending_approval' | 'applied' | 'rejected';
  version: number | null;
  approvalRequestId: string | null;
}

/** An amendment as planned: applied at once, or waiting for the approval the child workflow runs. */
export interface AmendmentPlan {
  state: ContractState;
  amendment: AmendmentOutcome;
  approval: ApprovalRequestState | null;
}

/** `ApplicationFailure` type of a refused update; its first detail is `{ code, status }`. */
export const contractRefusalFailureType = 'ContractRefused';

export const renewContractUpdate = defineUpdate<ContractState, [RenewContractRequest]>('renew');
export const terminateContractUpdate = defineUpdate<ContractState, [TerminateContractRequest]>('terminate');
export const amendContractUpdate = defineUpdate<AmendmentOutcome, [AmendContractRequest]>('amend');
export const contractStateQuery = defineQuery<ContractState>('state');

/** Keyword search attributes `contract:<id>` sets (with `OrganizationId`): filter contracts by status and end day in the Temporal UI. */
export const contractSearchAttributes = {
  status: { name: 'ContractStatus', type: 'KEYWORD' },
  endDate: { name: 'ContractEndDate', type: 'KEYWORD' },
} as const;

/** The lifecycle steps the workflow asks an activity to carry out. */
export type ContractStepKind = 'activate' | 'notice' | 'terminate' | 'end';
