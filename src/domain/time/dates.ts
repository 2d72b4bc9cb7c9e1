import { DomainError } from '../errors.js';

/**
 * Billing dates are UTC calendar days written "YYYY-MM-DD". Internally a day is its number of
 * days since 1970-01-01 (an "epoch day"), computed with Howard Hinnant's civil-calendar
 * algorithms so no Date object (and no clock) is involved.
 */
export type EpochDay = number;

/** The one declaration of a day's length: every day/instant conversion below builds on it. */
export const MS_PER_DAY = 86_400_000;

const DATE_PATTERN = /^(\d{4})-(\d{2})-(\d{2})$/;
const TIMESTAMP_PATTERN =
  /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|[+-]\d{2}:\d{2})$/;

export function isLeapYear(year: number): boolean {
  return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
}

export function daysInMonth(year: number, month: number): number {
  if (month === 2) return isLeapYear(year) ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

export function epochDayFromCivil(year: number, month: number, day: number): EpochDay {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yearOfEra = y - era * 400;
  const monthIndex = month > 2 ? month - 3 : month + 9;
  const dayOfYear = Math.floor((153 * monthIndex + 2) / 5) + day - 1;
  const dayOfEra = yearOfEra * 365 + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100) + dayOfYear;
  return era * 146_097 + dayOfEra - 719_468;
}

export interface CivilDate {
  year: number;
  month: number;
  day: number;
}

export function civilFromEpochDay(epochDay: EpochDay): CivilDate {
  const z = epochDay + 719_468;
  const era = Math.floor(z / 146_097);
  const dayOfEra = z - era * 146_097;
  const yearOfEra = Math.floor(
    (dayOfEra - Math.floor(dayOfEra / 1460) + Math.floor(dayOfEra / 36_524) - Math.floor(dayOfEra / 146_096)) /
      365,
  );
  const dayOfYear = dayOfEra - (365 * yearOfEra + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100));
  const monthIndex = Math.floor((5 * dayOfYear + 2) / 153);
  const day = dayOfYear - Math.floor((153 * monthIndex + 2) / 5) + 1;
  const month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9;
  return { year: yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day };
}

function checkCivil(value: string, year: number, month: number, day: number): void {
  if (year < 1 || month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) {
    throw new DomainError('INVALID_DATE', `${JSON.stringify(value)} is not a valid calendar date`, { value });
  }
}

/** Parses a strict "YYYY-MM-DD" billing date. */
export function parseDay(value: string): EpochDay {
  const match = typeof value === 'string' ? DATE_PATTERN.exec(value) : null;
  if (match === null) {
    throw new DomainError('INVALID_DATE', `${JSON.stringify(value)} is not a YYYY-MM-DD date`, { value });
  }
  const year = Number(match[1]);
  const month = Number(match[2]);
  const day = Number(match[3]);
  checkCivil(value, year, month, day);
  return epochDayFromCivil(year, month, day);
}

export function formatDay(epochDay: EpochDay): string {
  const { year, month, day } = civilFromEpochDay(epochDay);
  return `${String(year).padStart(4, '0')}-${String(month).padStart(2, '0')}-${String(day).padStart(2, '0')}`;
}

/**
 * Parses an ISO 8601 instant ("2027-01-31T23:59:59.999Z", an explicit offset, or a bare date
 * meaning midnight UTC) to epoch milliseconds, without Date.
 */
export function parseInstant(value: string): number {
  if (typeof value === 'string' && DATE_PATTERN.test(value)) return midnightOf(parseDay(value));
  const match = typeof value === 'string' ? TIMESTAMP_PATTERN.exec(value) : null;
  if (match === null) {
    throw new DomainError('INVALID_DATE', `${JSON.stringify(value)} is not an ISO 8601 timestamp`, { value });
  }
  const [, y, mo, d, h, mi, s, fraction, zone] = match;
  const year = Number(y);
  const month = Number(mo);
  const day = Number(d);
  checkCivil(value, year, month, day);
  const hour = Number(h);
  const minute = Number(mi);
  const second = Number(s ?? '0');
  if (hour > 23 || minute > 59 || second > 59) {
    throw new DomainError('INVALID_DATE', `${JSON.stringify(value)} has an invalid time of day`, { value });
  }
  const millis = Number((fraction ?? '').padEnd(3, '0').slice(0, 3));
  let offsetMinutes = 0;
  if (zone !== undefined && zone !== 'Z') {
    const sign = zone.startsWith('-') ? -1 : 1;
    offsetMinutes = sign * (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(4, 6)));
  }
  return (
    midnightOf(epochDayFromCivil(year, month, day)) +
    ((hour * 60 + minute - offsetMinutes) * 60 + second) * 1000 +
    millis
  );
}

/** The UTC billing day an instant (or a bare date) falls on. */
export function dayOfInstant(value: string): EpochDay {
  return dayOf(parseInstant(value));
}

/** The UTC epoch day an instant in epoch milliseconds (`Date.now()`, a timestamp) falls on. */
export function dayOf(epochMs: number): EpochDay {
  return Math.floor(epochMs / MS_PER_DAY);
}

/** Midnight UTC that starts `day`, in epoch milliseconds. */
export function midnightOf(day: EpochDay): number {
  return day * MS_PER_DAY;
}

/** The "YYYY-MM-DD" UTC day an instant in epoch milliseconds falls on. */
export function formatDayOf(epochMs: number): string {
  return formatDay(dayOf(epochMs));
}

/** Midnight UTC that starts a "YYYY-MM-DD" day, as an ISO 8601 instant. */
export function instantOfDay(day: string): string {
  return new Date(midnightOf(parseDay(day))).toISOString();
}

/** Midnight UTC that starts a "YYYY-MM-DD" day, as a Date (a timestamp column's value). */
export function dateOfDay(day: string): Date {
  return new Date(midnightOf(parseDay(day)));
}

/** The "YYYY-MM-DD" UTC day a Date falls on. */
export function dayOfDate(date: Date): string {
  return formatDayOf(date.getTime());
}
