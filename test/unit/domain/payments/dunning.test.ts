import { describe, expect, it } from '@jest/globals';
import { MS_PER_DAY, defaultDunningPolicy, paymentReminders, resolveDunningPolicy, retryDelayMs } from '../../../../src/domain/index.js';

describe('resolveDunningPolicy', () => {
  it('defaults to retries 3, 5 and 7 days apart, reminders 3 days before and 1 and 7 days after the due date, cancellation at once', () => {
    expect(resolveDunningPolicy()).toEqual({ retryDelaysDays: [3, 5, 7], reminderDaysBeforeDue: [3], reminderDaysAfterDue: [1, 7], cancelSubscriptionsAfterDays: 0 });
    expect(resolveDunningPolicy()).toEqual(defaultDunningPolicy);
  });

  it('takes what is given and defaults the rest', () => {
    expect(resolveDunningPolicy({ retryDelaysDays: [1], cancelSubscriptionsAfterDays: 14 })).toEqual({
      retryDelaysDays: [1],
      reminderDaysBeforeDue: [3],
      reminderDaysAfterDue: [1, 7],
      cancelSubscriptionsAfterDays: 14,
    });
    expect(resolveDunningPolicy({ retryDelaysDays: [] }).retryDelaysDays).toEqual([]);
  });

  it.each([
    ['a retry on the day of the failure', { retryDelaysDays: [0] }],
    ['a fraction of a day', { retryDelaysDays: [1.5] }],
    ['more than a year', { reminderDaysAfterDue: [366] }],
    ['a negative reminder', { reminderDaysBeforeDue: [-1] }],
    ['a reminder on the due date counted as "before"', { reminderDaysBeforeDue: [0] }],
    ['more than ten retries', { retryDelaysDays: Array.from({ length: 11 }, () => 1) }],
    ['a negative cancellation delay', { cancelSubscriptionsAfterDays: -1 }],
    ['not a list', { retryDelaysDays: 3 as unknown as number[] }],
  ])('refuses %s', (_, policy) => {
    expect(() => resolveDunningPolicy(policy)).toThrow(expect.objectContaining({ code: 'INVALID_DUNNING_POLICY' }));
  });
});

describe('retryDelayMs', () => {
  it('waits each delay after the failed attempt of that number, and nothing follows the last', () => {
    const policy = resolveDunningPolicy();
    expect([1, 2, 3, 4].map((attempt) => retryDelayMs(policy, attempt))).toEqual([3 * MS_PER_DAY, 5 * MS_PER_DAY, 7 * MS_PER_DAY, null]);
    expect(retryDelayMs({ retryDelaysDays: [] }, 1)).toBeNull();
  });
});

describe('paymentReminders', () => {
  const due = Date.UTC(2027, 2, 31);
  const day = (offset: number) => due + offset * MS_PER_DAY;

  it('lists the reminders before and after the due date in time order', () => {
    expect(paymentReminders(resolveDunningPolicy(), due, day(-30))).toEqual([
      { key: 'before_due:3', relation: 'before_due', days: 3, atMs: day(-3) },
      { key: 'after_due:1', relation: 'after_due', days: 1, atMs: day(1) },
      { key: 'after_due:7', relation: 'after_due', days: 7, atMs: day(7) },
    ]);
  });

  it('leaves out reminders before the due date that are already past when collection starts (short terms)', () => {
    const policy = resolveDunningPolicy({ reminderDaysBeforeDue: [7, 3, 1] });
    expect(paymentReminders(policy, due, day(-5)).map((reminder) => reminder.key)).toEqual(['before_due:3', 'before_due:1', 'after_due:1', 'after_due:7']);
    expect(paymentReminders(policy, due, due).map((reminder) => reminder.key)).toEqual(['after_due:1', 'after_due:7']);
  });

  it('sends one reminder per instant, and keeps reminders after the due date even when collection starts late', () => {
    const policy = resolveDunningPolicy({ reminderDaysBeforeDue: [], reminderDaysAfterDue: [7, 1, 7, 0] });
    expect(paymentReminders(policy, due, day(10)).map((reminder) => reminder.key)).toEqual(['after_due:0', 'after_due:1', 'after_due:7']);
  });
});
