/**
 * Stable machine-readable codes for invalid domain input. The API maps a DomainError to a
 * 4xx problem response carrying `code`, so codes are part of the public contract.
 */
export type DomainErrorCode =
  | 'INVALID_AMOUNT'
  | 'AMOUNT_OVERFLOW'
  | 'INVALID_DECIMAL'
  | 'INVALID_CURRENCY'
  | 'CURRENCY_MISMATCH'
  | 'INVALID_DATE'
  | 'INVALID_PERIOD'
  | 'INVALID_CALENDAR'
  | 'INVALID_CHARGE'
  | 'UNKNOWN_CHARGE_MODEL'
  | 'INVALID_PLAN'
  | 'INVALID_USAGE'
  | 'INVALID_ALLOCATION'
  | 'INVALID_SUBSCRIPTION'
  | 'INVALID_COUPON'
  | 'INVALID_TAX'
  | 'INVALID_ACCOUNT'
  | 'INVALID_PENDING_ITEM'
  | 'USAGE_PERIOD_MISMATCH'
  | 'UNBALANCED_JOURNAL'
  | 'INVALID_CREDIT_NOTE'
  | 'INVALID_DUNNING_POLICY'
  | 'INVALID_APPROVAL_RULE'
  | 'INVALID_CONTRACT'
  | 'INVALID_GL_MAPPING';

export class DomainError extends Error {
  readonly code: DomainErrorCode;
  readonly details: Readonly<Record<string, unknown>>;

  constructor(code: DomainErrorCode, message: string, details: Record<string, unknown> = {}) {
    super(message);
    this.name = 'DomainError';
    this.code = code;
    this.details = details;
  }
}

export function isDomainError(error: unknown): error is DomainError {
  return error instanceof DomainError;
}
