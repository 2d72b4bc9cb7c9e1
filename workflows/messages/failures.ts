/**
 * What every workflow context shares: how a refusal by the domain's rules travels from an
 * activity through a workflow to the API.
 */
/**
 * `ApplicationFailure` type of a refusal by the domain's rules (activities/domain-failures.ts):
 * not retryable, with a `DomainFailureDetails` as its first detail. The API answers it with 422
 * and that code.
 */
export const domainFailureType = 'DomainError';

export interface DomainFailureDetails {
  /** The domain error's code as the API shows it, e.g. `amount_overflow`. */
  code: string;
  message: string;
}
