import { ApplicationFailure } from '@temporalio/activity';
import { isDomainError, type DomainError } from '../src/domain/index.js';
import { type DomainFailureDetails, domainFailureType } from '../workflows/messages/failures.js';

/**
 * A domain error as the failure a workflow (and the API behind it) acts on: not retryable — the
 * same input fails the same way, so retrying only grows the history — and carrying the error's
 * code as the API shows it (`amount_overflow`).
 */
export function domainFailure(error: DomainError): ApplicationFailure {
  const details: DomainFailureDetails = { code: error.code.toLowerCase(), message: error.message };
  return ApplicationFailure.create({ type: domainFailureType, message: error.message, nonRetryable: true, details: [details], cause: error });
}

type ActivityFunctions = Record<string, (...args: never[]) => Promise<unknown>>;

/**
 * Every activity of a factory, with a `DomainError` leaving it as `domainFailure`: the one place
 * activities turn the domain's refusals into Temporal failures. Other errors pass unchanged (and
 * are retried by the caller's retry policy).
 */
export function withDomainFailures<T extends ActivityFunctions>(activities: T): T {
  const wrapped: Record<string, unknown> = {};
  for (const [name, activity] of Object.entries(activities) as [string, (...args: unknown[]) => Promise<unknown>][]) {
    wrapped[name] = async (...args: unknown[]) => {
      try {
        return await activity(...args);
      } catch (error) {
        throw isDomainError(error) ? domainFailure(error) : error;
      }
    };
  }
  return wrapped as T;
}
