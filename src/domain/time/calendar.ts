import { civilFromEpochDay, daysInMonth, epochDayFromCivil, formatDay, parseDay, type EpochDay } from './dates.js';
import { DomainError } from '../errors.js';

export type BillingInterval = 'week' | 'month' | 'quarter' | 'year';

export const BILLING_INTERVALS: readonly BillingInterval[] = ['week', 'month', 'quarter', 'year'];

/**
 * A billing cycle. Periods start on `anchor` and every interval after (and before) it. For
 * month-based intervals `anchorDay` (1–31, default: the anchor's day of month) is the day each
 * period starts on; a month without that day starts the period on its last day, and the next
 * period returns to the anchor day.
 */
export interface BillingCalendar {
  interval: BillingInterval;
  anchor: string;
  anchorDay?: number;
}

/** A half-open billing period [start, end) of whole UTC days. */
export interface BillingPeriod {
  /** Position relative to the anchor period (0); negative before it. */
  index: number;
  start: string;
  end: string;
}

const MONTHS_PER_INTERVAL: Readonly<Record<Exclude<BillingInterval, 'week'>, number>> = {
  month: 1,
  quarter: 3,
  year: 12,
};

interface ResolvedCalendar {
  interval: BillingInterval;
  anchorEpochDay: EpochDay;
  /** Months since year 0 of the anchor period, for month-based intervals. */
  anchorMonthIndex: number;
  anchorDay: number;
  monthsPerPeriod: number;
}

function resolve(calendar: BillingCalendar): ResolvedCalendar {
  if (!(BILLING_INTERVALS as readonly string[]).includes(calendar.interval)) {
    throw new DomainError('INVALID_CALENDAR', `unknown billing interval ${JSON.stringify(calendar.interval)}`, {
      interval: calendar.interval,
    });
  }
  const anchorEpochDay = parseDay(calendar.anchor);
  const anchorCivil = civilFromEpochDay(anchorEpochDay);
  const anchorDay = calendar.anchorDay ?? anchorCivil.day;
  if (!Number.isInteger(anchorDay) || anchorDay < 1 || anchorDay > 31) {
    throw new DomainError('INVALID_CALENDAR', 'anchorDay must be an integer from 1 to 31', { anchorDay });
  }
  return {
    interval: calendar.interval,
    anchorEpochDay,
    anchorMonthIndex: anchorCivil.year * 12 + (anchorCivil.month - 1),
    anchorDay,
    monthsPerPeriod: calendar.interval === 'week' ? 0 : MONTHS_PER_INTERVAL[calendar.interval],
  };
}

function startOfIndex(calendar: ResolvedCalendar, index: number): EpochDay {
  if (calendar.interval === 'week') return calendar.anchorEpochDay + 7 * index;
  const monthIndex = calendar.anchorMonthIndex + index * calendar.monthsPerPeriod;
  const year = Math.floor(monthIndex / 12);
  const month = monthIndex - year * 12 + 1;
  return epochDayFromCivil(year, month, Math.min(calendar.anchorDay, daysInMonth(year, month)));
}

function indexContaining(calendar: ResolvedCalendar, day: EpochDay): number {
  let index: number;
  if (calendar.interval === 'week') {
    index = Math.floor((day - calendar.anchorEpochDay) / 7);
  } else {
    const civil = civilFromEpochDay(day);
    const monthIndex = civil.year * 12 + civil.month - 1;
    index = Math.floor((monthIndex - calendar.anchorMonthIndex) / calendar.monthsPerPeriod);
  }
  // The estimate is off by at most one period (day-of-month clamping); settle it exactly.
  while (startOfIndex(calendar, index) > day) index -= 1;
  while (startOfIndex(calendar, index + 1) <= day) index += 1;
  return index;
}

export interface EpochPeriod {
  index: number;
  start: EpochDay;
  end: EpochDay;
}

/** Epoch-day view of the calendar, for code that does day arithmetic on periods. */
export interface CalendarCursor {
  at(day: EpochDay): EpochPeriod;
  byIndex(index: number): EpochPeriod;
}

export function calendarCursor(calendar: BillingCalendar): CalendarCursor {
  const resolved = resolve(calendar);
  const byIndex = (index: number): EpochPeriod => ({
    index,
    start: startOfIndex(resolved, index),
    end: startOfIndex(resolved, index + 1),
  });
  return {
    byIndex,
    at: (day) => byIndex(indexContaining(resolved, day)),
  };
}

function toBillingPeriod(period: EpochPeriod): BillingPeriod {
  return { index: period.index, start: formatDay(period.start), end: formatDay(period.end) };
}

/** The period containing `date` ("YYYY-MM-DD"). */
export function periodContaining(calendar: BillingCalendar, date: string): BillingPeriod {
  return toBillingPeriod(calendarCursor(calendar).at(parseDay(date)));
}

/** The period `index` periods after the anchor period. */
export function periodAtIndex(calendar: BillingCalendar, index: number): BillingPeriod {
  if (!Number.isSafeInteger(index)) {
    throw new DomainError('INVALID_CALENDAR', 'period index must be an integer', { index });
  }
  return toBillingPeriod(calendarCursor(calendar).byIndex(index));
}

/** Every period that overlaps [from, to), in order; they tile the range with no gap or overlap. */
export function periodsBetween(calendar: BillingCalendar, from: string, to: string): BillingPeriod[] {
  const cursor = calendarCursor(calendar);
  const fromDay = parseDay(from);
  const toDay = parseDay(to);
  if (toDay < fromDay) {
    throw new DomainError('INVALID_PERIOD', 'periodsBetween needs from <= to', { from, to });
  }
  const periods: BillingPeriod[] = [];
  if (toDay === fromDay) return periods;
  for (let period = cursor.at(fromDay); period.start < toDay; period = cursor.byIndex(period.index + 1)) {
    periods.push(toBillingPeriod(period));
  }
  return periods;
}
