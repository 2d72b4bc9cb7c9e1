import { defineQuery, defineUpdate } from '@temporalio/workflow';
import type { CollectionMethod, InvoiceStatus } from '../../src/domain/index.js';
import type { DomainFailureDetails } from './failures.js';

export interface BillingCycleInput {
  organizationId: string;
  /** Carried across continue-as-new. */
  startedAt?: string;
  lastBilledDay?: string | null;
  /** The next billing day as the closing before continue-as-new answered it: the new run starts from it. */
  nextRunDay?: string | null;
  /** The closing that failed, while the account needs attention. */
  lastError?: BillingFailure | null;
}

/** Where a billing account stands: `needs_attention` from a closing that could not be computed until one succeeds. */
export type BillingStatus = 'ok' | 'needs_attention';

/**
 * The Keyword search attribute `billing:<accountId>` keeps its `BillingStatus` in (set once a
 * closing fails; `ok` again after the next closing succeeds), so operators list the accounts to
 * look at: `BillingStatus = "needs_attention"`. Registered at worker start (src/temporal/search-attributes.ts).
 */
export const billingStatusSearchAttribute = { name: 'BillingStatus', type: 'KEYWORD' } as const;

/** A closing of a billing day that could not be computed: the domain refused the account's data. */
export interface BillingFailure extends DomainFailureDetails {
  billingDay: string;
  /** ISO instant of the (first) failed attempt that day. */
  failedAt: string;
}

/** `ApplicationFailure` type a `runNow` answers with when the closing could not run (a dependency stayed unavailable): the API answers 503. */
export const billingUnavailableFailureType = 'BillingUnavailable';

/** What `billing:<accountId>` reports about itself. */
export interface BillingCycleState {
  organizationId: string;
  startedAt: string;
  /** The last billing day closed ("YYYY-MM-DD"), null before the first invoice. */
  lastBilledDay: string | null;
  /** The next billing day it waits for, null when no subscription will start a period. */
  nextRunDay: string | null;
  status: BillingStatus;
  /** The closing that put the account in `needs_attention`; null while it is `ok`. */
  lastError: BillingFailure | null;
}

export const billingStateQuery = defineQuery<BillingCycleState>('state');
/** When the next cycle runs (ISO instant), or null when nothing is scheduled. */
export const nextRunAtQuery = defineQuery<string | null>('nextRunAt');

/** What closing a billing period produced: the account's invoice for that billing day, or nothing due. */
export interface ClosedPeriod {
  invoiceId: string;
  number: string;
  status: InvoiceStatus;
  amountDue: number;
  collectionMethod: CollectionMethod;
}

/** What closing a billing day answers: its invoice, and the next billing day after it. */
export interface ClosedBillingDay {
  invoice: ClosedPeriod | null;
  /** As `nextBillingDay` would answer right after this closing; null when no subscription will start a period. */
  nextBillingDay: string | null;
}

/** What one closing produced; `invoice` is null when nothing was due. */
export interface BillingRunResult {
  billingDay: string;
  invoice: ClosedPeriod | null;
}

/**
 * Bills what is due now and answers with the invoice (behind `POST /v1/organizations/{id}/invoices/run`).
 * A closing the domain refuses fails the update with a `domainFailureType` failure (its details a `BillingFailure`).
 */
export const runNowUpdate = defineUpdate<BillingRunResult, []>('runNow');
