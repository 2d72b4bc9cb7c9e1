import type { EntityManager } from '@mikro-orm/postgresql';
import type Stripe from 'stripe';
import type { Clock } from '../../clock.js';
import type { ApprovalRequest } from '../../db/entities/index.js';
import type { ApprovalSubjectType } from '../../domain/index.js';
import type { Logger } from '../../logger.js';

export interface ApprovalSubjectDeps {
  stripe: Stripe;
  clock: Clock;
  logger: Logger;
}

/** What carrying out an approved action made (`resultId`: the credit note, …) and the webhook events it recorded, dispatched after the commit. */
export interface ApprovalSubjectOutcome {
  resultId: string | null;
  eventIds: string[];
}

/**
 * Thrown by `carryOut` when the approved action can no longer be carried out (the invoice was
 * credited or voided meanwhile, Stripe refused the refund): retrying would not change that. The
 * transaction rolls back, so nothing half-done stays, and the request records the execution as failed.
 */
export class ApprovalSubjectRefusal extends Error {
  override name = 'ApprovalSubjectRefusal';
}

/**
 * One kind of thing that can wait for approval. `carryOut` carries the action out once the last
 * level approved, in the activity's transaction; it is keyed by the request id, so running it
 * again (a retried activity, a worker killed after the commit) finds what it made and makes
 * nothing twice. A subject that can no longer be carried out throws `ApprovalSubjectRefusal`.
 */
export interface ApprovalSubject {
  subjectTypes: readonly ApprovalSubjectType[];
  carryOut(tx: EntityManager, request: ApprovalRequest, deps: ApprovalSubjectDeps): Promise<ApprovalSubjectOutcome>;
}
