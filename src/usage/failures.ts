import { MAX_USAGE_PERIOD_QUANTITY } from '../domain/index.js';

/** Why usage was refused; nothing was recorded. The API answers each code with its status (src/api/routes/usage.ts). */
export type UsageFailureCode =
  | 'organization_not_found'
  | 'forbidden'
  | 'metric_not_found'
  | 'department_not_found'
  | 'timestamp_out_of_range'
  | 'subscription_not_found'
  | 'no_subscription_for_metric'
  | 'subscription_ambiguous'
  | 'usage_period_closed'
  | 'usage_value_invalid'
  | 'usage_events_invalid'
  | 'usage_limit_exceeded'
  | 'usage_period_total_out_of_range';

export interface UsageFailure {
  code: UsageFailureCode;
  message: string;
  /** One entry per refused field (`events.3.metricCode` in a batch). */
  errors?: { field: string; message: string }[];
  /** Facts a program can act on: the invoiced period, the limit reached. */
  details?: Record<string, string | number | null>;
}

/** What recording answers: its outcome, or why nothing was recorded. */
export type UsageResult<T> = { ok: true; value: T } | { ok: false; failure: UsageFailure };

/**
 * A refusal on its way out of `ingest`: thrown, so that a transaction the events were being
 * written in rolls back; the recorder's public methods return it as a `UsageResult`.
 */
export class UsageRefused extends Error {
  constructor(readonly failure: UsageFailure) {
    super(failure.message);
    this.name = 'UsageRefused';
  }
}

export const refused = (failure: UsageFailure) => new UsageRefused(failure);

/** One refused event; a batch collects them all before answering. */
export interface EventFailure {
  code: UsageFailureCode;
  field: string;
  message: string;
  details?: UsageFailure['details'];
}

/** Refuses the request with every failure, under the failures' own code when they share one. */
export function refuse(failures: readonly EventFailure[]): never {
  const first = failures[0]!;
  const errors = failures.map((failure) => ({ field: failure.field, message: failure.message }));
  if (failures.every((failure) => failure.code === first.code)) {
    const message = failures.length === 1 ? first.message : `${failures.length} events refused (${first.code}); none was recorded.`;
    throw refused({ code: first.code, message, errors, ...(failures.length === 1 && first.details ? { details: first.details } : {}) });
  }
  throw refused({
    code: 'usage_events_invalid',
    message: `${failures.length} events refused; none was recorded.`,
    errors: failures.map((failure) => ({ field: failure.field, message: `${failure.code}: ${failure.message}` })),
  });
}

export const periodTotalOutOfRange = () =>
  refused({
    code: 'usage_period_total_out_of_range',
    message: `These events would take a subscription's total of a metric in one billing period past ${MAX_USAGE_PERIOD_QUANTITY}; nothing was recorded.`,
    errors: [{ field: 'quantity', message: `a period's total is at most ${MAX_USAGE_PERIOD_QUANTITY}` }],
    details: { limit: MAX_USAGE_PERIOD_QUANTITY },
  });
