import { DomainError } from '../errors.js';
import { formatDay, parseDay } from '../time/dates.js';
import { noticeDate, type ContractTerms } from './contract.js';

/**
 * A contract's life, as `contract:<id>` follows it: scheduled (`draft`) until it starts, `active`,
 * `renewing` once an auto-renewing contract's notice date has passed, then renewed (a new term and
 * version), `expired` at its end, or `terminated` (now, or on a chosen day before its end).
 */
export type ContractLifecycleStatus = 'draft' | 'active' | 'renewing' | 'expired' | 'terminated';

export interface ContractLifecycle {
  status: ContractLifecycleStatus;
  startDate: string;
  endDate: string;
  noticeDays: number;
  autoRenew: boolean;
  /** The day a scheduled termination takes effect. */
  terminatesOn: string | null;
  /** The term end whose renewal notice was sent. */
  noticeSentFor: string | null;
}

export const isContractOver = (status: ContractLifecycleStatus): boolean => status === 'expired' || status === 'terminated';

/** What the workflow does next, and on which day. */
export type ContractStep = { kind: 'activate' | 'notice' | 'terminate' | 'end'; on: string } | null;

/** The next step of the contract's life: the earliest of its start, its renewal notice, a scheduled termination and its end. */
export function nextContractStep(contract: ContractLifecycle): ContractStep {
  if (isContractOver(contract.status)) return null;
  if (contract.status === 'draft') return { kind: 'activate', on: contract.startDate };
  const steps: NonNullable<ContractStep>[] = [];
  const notice = noticeDate(contract.endDate, contract.noticeDays);
  if (contract.noticeSentFor !== contract.endDate && contract.noticeDays > 0 && notice > contract.startDate) steps.push({ kind: 'notice', on: notice });
  if (contract.terminatesOn !== null) steps.push({ kind: 'terminate', on: contract.terminatesOn });
  steps.push({ kind: 'end', on: contract.endDate });
  // On one day a termination comes before the end, and the notice before both.
  const rank = { notice: 0, terminate: 1, end: 2, activate: 0 } as const;
  return steps.sort((a, b) => (a.on < b.on ? -1 : a.on > b.on ? 1 : rank[a.kind] - rank[b.kind]))[0] ?? null;
}

/** Why a contract action is refused; `status` is the HTTP status the API answers. */
export interface ContractRefusal {
  code: 'contract_ended' | 'termination_out_of_term' | 'amendment_out_of_term' | 'amendment_before_latest_version' | 'commitment_period_fixed';
  status: 409 | 422;
  message: string;
}

const ended = (contract: ContractLifecycle): ContractRefusal | null =>
  isContractOver(contract.status) ? { code: 'contract_ended', status: 409, message: `The contract is ${contract.status}.` } : null;

export const renewalRefusal = (contract: ContractLifecycle): ContractRefusal | null => ended(contract);

/** A termination takes effect today (or on the start of a contract not started yet) or on a later day before the term's end. */
export function terminationRefusal(contract: ContractLifecycle, on: string, today: string): ContractRefusal | null {
  const over = ended(contract);
  if (over) return over;
  const earliest = contract.startDate > today ? contract.startDate : today;
  if (on < earliest || on >= contract.endDate) {
    return { code: 'termination_out_of_term', status: 422, message: `A termination takes effect from ${earliest} (today, or the start of a contract not started yet) to the day before the term ends (${contract.endDate}); ${on} is outside.` };
  }
  return null;
}

/** An amendment takes effect within the term, not before the latest version (later terms are built on it), and keeps the commitment period. */
export function amendmentRefusal(contract: ContractLifecycle, amendment: { effectiveAt: string; changes: Partial<ContractTerms> }, latestVersionFrom: string): ContractRefusal | null {
  const over = ended(contract);
  if (over) return over;
  if (amendment.effectiveAt < contract.startDate || amendment.effectiveAt >= contract.endDate) {
    return { code: 'amendment_out_of_term', status: 422, message: `An amendment takes effect within the term (${contract.startDate} to ${contract.endDate}); ${amendment.effectiveAt} is outside.` };
  }
  if (amendment.effectiveAt < latestVersionFrom) {
    return { code: 'amendment_before_latest_version', status: 422, message: `The latest version takes effect on ${latestVersionFrom}; an amendment cannot take effect before it.` };
  }
  if (amendment.changes.commitmentPeriod !== undefined) {
    return { code: 'commitment_period_fixed', status: 422, message: 'The commitment period is fixed for the contract; amend the committed amount instead.' };
  }
  return null;
}

/** The terms an amendment makes: the latest version's, with the changed fields replaced. */
export function amendedTerms(latest: ContractTerms, changes: Partial<ContractTerms>): ContractTerms {
  const defined = Object.fromEntries(Object.entries(changes).filter(([, value]) => value !== undefined)) as Partial<ContractTerms>;
  return { ...latest, ...defined };
}

/** The status once a step has run. */
export function statusAfter(step: NonNullable<ContractStep>['kind'], contract: ContractLifecycle): ContractLifecycleStatus {
  switch (step) {
    case 'activate':
      return 'active';
    case 'notice':
      return contract.autoRenew ? 'renewing' : contract.status;
    case 'terminate':
      return 'terminated';
    case 'end':
      return contract.autoRenew ? 'active' : 'expired';
  }
}

/** The day of an instant (workflow time). */
export const contractDay = (epochMs: number): string => formatDay(Math.floor(epochMs / 86_400_000));

/** Milliseconds from `nowMs` until the start of `day` (0 when it has begun). */
export function msUntilDay(day: string, nowMs: number): number {
  return Math.max(0, parseDay(day) * 86_400_000 - nowMs);
}

export function assertTermMonths(months: number): number {
  if (!Number.isSafeInteger(months) || months < 1 || months > 120) throw new DomainError('INVALID_CONTRACT', 'a term is 1 to 120 months', { field: 'termMonths' });
  return months;
}
