import {
  CheckConstraintViolationException,
  ConnectionException,
  ForeignKeyConstraintViolationException,
  NotFoundError,
  UniqueConstraintViolationException,
  ValidationError as OrmValidationError,
} from '@mikro-orm/core';
import { ServiceError, WorkflowExecutionAlreadyStartedError, WorkflowUpdateFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { Context, ErrorHandler, NotFoundHandler } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { ZodError } from 'zod';
import { DomainError } from '../../domain/index.js';
import { approvalRefusalFailureType, type ApprovalRefusalDetails } from '../../../workflows/messages/approval.js';
import { billingUnavailableFailureType } from '../../../workflows/messages/billing.js';
import { contractRefusalFailureType } from '../../../workflows/messages/contract.js';
import { disputeRefusalFailureType, type DisputeRefusalDetails } from '../../../workflows/messages/dispute.js';
import { domainFailureType } from '../../../workflows/messages/failures.js';
import { subscriptionRefusal, type SubscriptionRefusalDetails } from '../../../workflows/messages/subscription.js';
import type { AppEnv } from './context.js';
import { ApiError, problem, problemContentType, type Problem } from './problem.js';
import { WorkflowUpdateTimeout } from './workflow-updates.js';

export function zodIssuesToFields(error: ZodError): NonNullable<Problem['errors']> {
  return error.issues.flatMap((issue) =>
    issue.code === 'unrecognized_keys'
      ? issue.keys.map((key) => ({ field: [...issue.path, key].join('.'), message: 'unknown field' }))
      : [{ field: issue.path.join('.') || '(body)', message: issue.message }],
  );
}

export function sendProblem(c: Context<AppEnv>, body: Problem, headers: Record<string, string> = {}) {
  return c.body(JSON.stringify(body), body.status as ContentfulStatusCode, {
    'content-type': problemContentType,
    ...headers,
  });
}

/**
 * A workflow's refusal of an update, by the `ApplicationFailure` type it failed with (workflows/messages/):
 * the domain's (422 with its code), a subscription rule's (409 or 422), a closing that could not run (503).
 */
function updateRefusal(failure: ApplicationFailure, requestId: string): Problem | null {
  const [details] = (failure.details ?? []) as [(SubscriptionRefusalDetails & Record<string, unknown>) | undefined];
  switch (failure.type) {
    case domainFailureType: {
      // The facts beside the code (a billing failure's `billingDay`, say).
      const facts = Object.entries(details ?? {}).filter(([field, value]) => field !== 'code' && field !== 'message' && (typeof value === 'string' || typeof value === 'number'));
      return problem(422, details?.code ?? 'domain_error', failure.message, requestId, undefined, facts.length ? (Object.fromEntries(facts) as Problem['details']) : undefined);
    }
    case subscriptionRefusal.conflict:
    case subscriptionRefusal.invalid: {
      const seats = details?.seatsToUnassign?.map((seat) => ({ field: 'seats', message: `unassign user ${seat.userId} (seat ${seat.seatId}) first` }));
      return problem(failure.type === subscriptionRefusal.conflict ? 409 : 422, details?.code ?? 'change_refused', failure.message, requestId, seats);
    }
    case approvalRefusalFailureType: {
      // The validator's verdict: the decision never entered the workflow's history.
      const code = (details as ApprovalRefusalDetails | undefined)?.code ?? 'not_an_approver';
      return problem(code === 'already_decided' ? 409 : 403, code, failure.message, requestId);
    }
    case contractRefusalFailureType: {
      const refusal = details as unknown as { code?: string; status?: 409 | 422 } | undefined;
      return problem(refusal?.status ?? 409, refusal?.code ?? 'contract_refused', failure.message, requestId);
    }
    case disputeRefusalFailureType: {
      // The dispute's validator (its status) or its step (the invoice as it is now) refused.
      const refusal = details as unknown as DisputeRefusalDetails | undefined;
      return problem(refusal?.status ?? 409, refusal?.code ?? 'dispute_refused', failure.message, requestId, undefined, refusal?.details);
    }
    case billingUnavailableFailureType:
      return problem(503, 'dependency_unavailable', failure.message, requestId);
    default:
      return null;
  }
}

/** Maps every failure — domain, HTTP, zod, ORM, Temporal — to one problem+json shape. */
export function toProblem(error: unknown, requestId: string): Problem {
  if (error instanceof ApiError) {
    return problem(error.status, error.code, error.message, requestId, error.errors, error.details);
  }
  if (error instanceof DomainError) {
    return problem(422, error.code.toLowerCase(), error.message, requestId);
  }
  if (error instanceof WorkflowUpdateFailedError && error.cause instanceof ApplicationFailure) {
    const refusal = updateRefusal(error.cause, requestId);
    if (refusal) return refusal;
  }
  if (error instanceof WorkflowUpdateTimeout) {
    const { workflowId, updateId, location } = error.target;
    const retry = updateId === undefined ? '' : ' Repeating the request with the same Idempotency-Key waits for the same update.';
    return problem(
      504,
      'timeout',
      `Workflow ${workflowId} did not answer within ${error.timeoutMs} ms; the request may still take effect. GET ${location} shows the result.${retry}`,
      requestId,
      undefined,
      { workflowId, location, ...(updateId === undefined ? {} : { updateId }) },
    );
  }
  if (error instanceof ZodError) {
    return problem(400, 'validation_failed', 'The request failed validation.', requestId, zodIssuesToFields(error));
  }
  if (error instanceof HTTPException) {
    if (error.status === 413) return problem(413, 'body_too_large', 'The request body is too large.', requestId);
    return problem(error.status, error.status === 400 ? 'malformed_request' : 'http_error', error.message || 'Request failed.', requestId);
  }
  if (error instanceof UniqueConstraintViolationException) {
    return problem(409, 'conflict', 'An object with these unique values already exists.', requestId);
  }
  if (error instanceof ForeignKeyConstraintViolationException) {
    return problem(422, 'reference_invalid', 'The request refers to an object that does not exist or is still in use.', requestId);
  }
  if (error instanceof CheckConstraintViolationException) {
    return problem(422, 'constraint_violated', 'The request breaks a rule the data must keep.', requestId);
  }
  if (error instanceof NotFoundError) {
    return problem(404, 'not_found', 'No such object.', requestId);
  }
  if (error instanceof OrmValidationError) {
    return problem(422, 'invalid_state', error.message, requestId);
  }
  if (error instanceof WorkflowExecutionAlreadyStartedError) {
    return problem(409, 'workflow_already_started', `Workflow ${error.workflowId} is already running.`, requestId);
  }
  if (error instanceof ConnectionException || error instanceof ServiceError) {
    return problem(503, 'dependency_unavailable', 'A dependency is not reachable; retry later.', requestId);
  }
  return problem(500, 'internal_error', 'Something went wrong on our side; the request id identifies it in the logs.', requestId);
}

export const errorHandler: ErrorHandler<AppEnv> = (error, c) => {
  const requestId = c.get('requestId');
  const body = toProblem(error, requestId);
  const log = c.get('logger');
  if (body.status >= 500) log.error({ err: error }, 'request failed');
  else log.debug({ code: body.code }, 'request refused');
  return sendProblem(c, body, error instanceof ApiError ? error.headers : undefined);
};

export const notFoundHandler: NotFoundHandler<AppEnv> = (c) =>
  sendProblem(c, problem(404, 'route_not_found', `No route ${c.req.method} ${c.req.path}.`, c.get('requestId')));
