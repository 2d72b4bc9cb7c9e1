import { MS_PER_DAY } from '../time/dates.js';
import { DomainError } from '../errors.js';

/**
 * How `payment:<invoiceId>` collects an invoice: the retries after a failed automatic charge,
 * the reminders of an invoice paid by transfer, and how long after an invoice is written off
 * the account's subscriptions are canceled. All in whole days.
 */
export interface DunningPolicy {
  /** One entry per retry: the days from a failed attempt to the next attempt. */
  retryDelaysDays: number[];
  /** `send_invoice`: a reminder this many days before the due date. */
  reminderDaysBeforeDue: number[];
  /** `send_invoice`: a reminder this many days after the due date while still unpaid. */
  reminderDaysAfterDue: number[];
  /** Days from marking the invoice uncollectible to canceling the account's subscriptions (0: at once). */
  cancelSubscriptionsAfterDays?: number;
}

/** Retries 3, 5 and 7 days after the previous failure (days 3, 8 and 15); reminders 3 days before and 1 and 7 days after the due date. */
export const defaultDunningPolicy: Readonly<Required<DunningPolicy>> = Object.freeze({
  retryDelaysDays: [3, 5, 7],
  reminderDaysBeforeDue: [3],
  reminderDaysAfterDue: [1, 7],
  cancelSubscriptionsAfterDays: 0,
});

const maxDays = 365;
const maxEntries = 10;

function days(value: unknown, field: string, min: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > maxDays) {
    throw new DomainError('INVALID_DUNNING_POLICY', `${field} must be whole days from ${min} to ${maxDays}`, { field, value: String(value) });
  }
  return value;
}

function dayList(values: unknown, field: string, min: number): number[] {
  if (!Array.isArray(values) || values.length > maxEntries) {
    throw new DomainError('INVALID_DUNNING_POLICY', `${field} must be a list of at most ${maxEntries} entries`, { field });
  }
  return values.map((value, index) => days(value, `${field}[${index}]`, min));
}

/** The policy with defaults for what is not given; throws INVALID_DUNNING_POLICY for anything out of range. */
export function resolveDunningPolicy(policy: Partial<DunningPolicy> = {}): Required<DunningPolicy> {
  return {
    // A retry on the day of the failure would meet the same decline: retries are at least a day apart.
    retryDelaysDays: dayList(policy.retryDelaysDays ?? defaultDunningPolicy.retryDelaysDays, 'retryDelaysDays', 1),
    reminderDaysBeforeDue: dayList(policy.reminderDaysBeforeDue ?? defaultDunningPolicy.reminderDaysBeforeDue, 'reminderDaysBeforeDue', 1),
    reminderDaysAfterDue: dayList(policy.reminderDaysAfterDue ?? defaultDunningPolicy.reminderDaysAfterDue, 'reminderDaysAfterDue', 0),
    cancelSubscriptionsAfterDays: days(policy.cancelSubscriptionsAfterDays ?? defaultDunningPolicy.cancelSubscriptionsAfterDays, 'cancelSubscriptionsAfterDays', 0),
  };
}

/** The wait after failed attempt `attempt` (the first is 1) before the next one; null when that attempt was the last. */
export function retryDelayMs(policy: Pick<DunningPolicy, 'retryDelaysDays'>, attempt: number): number | null {
  const delay = policy.retryDelaysDays[attempt - 1];
  return delay === undefined ? null : delay * MS_PER_DAY;
}

export interface PaymentReminder {
  /** Stable per invoice (`before_due:3`, `after_due:7`): the reminder's webhook event is deduplicated by it. */
  key: string;
  relation: 'before_due' | 'after_due';
  days: number;
  atMs: number;
}

/**
 * The reminders of an invoice due at `dueAtMs`, in time order, one per instant. Reminders before
 * the due date that are already past at `startMs` (short payment terms) are left out: they would
 * arrive together with the invoice.
 */
export function paymentReminders(policy: Pick<DunningPolicy, 'reminderDaysBeforeDue' | 'reminderDaysAfterDue'>, dueAtMs: number, startMs: number): PaymentReminder[] {
  const before = policy.reminderDaysBeforeDue.map((days): PaymentReminder => ({ key: `before_due:${days}`, relation: 'before_due', days, atMs: dueAtMs - days * MS_PER_DAY }));
  const after = policy.reminderDaysAfterDue.map((days): PaymentReminder => ({ key: `after_due:${days}`, relation: 'after_due', days, atMs: dueAtMs + days * MS_PER_DAY }));
  const byInstant = new Map<number, PaymentReminder>();
  for (const reminder of [...before.filter((reminder) => reminder.atMs > startMs), ...after]) {
    if (!byInstant.has(reminder.atMs)) byInstant.set(reminder.atMs, reminder);
  }
  return [...byInstant.values()].sort((a, b) => a.atMs - b.atMs);
}
