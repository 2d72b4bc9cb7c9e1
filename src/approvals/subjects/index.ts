import type { EntityManager } from '@mikro-orm/postgresql';
import type Stripe from 'stripe';
import type { Clock } from '../../clock.js';
import type { ApprovalRequest } from '../../db/entities/index.js';
import type { ApprovalSubjectType } from '../../domain/index.js';
import type { Logger } from '../../logger.js';
import { manualSubject } from './manual.js';

export interface ApprovalSubjectDeps {
  stripe: Stripe;
  clock: Clock;
  logger: Logger;
}

/** What carrying out an approved action did; `eventIds` are webhook events it recorded, dispatched after the commit. */
export interface ApprovalSubjectOutcome {
  status: 'executed' | 'failed';
  resultId: string | null;
  detail: string | null;
  eventIds: string[];
}

/**
 * One kind of thing that can wait for approval. `carryOut` carries the action out once the last
 * level approved, in the activity's transaction; it is keyed by the request id, so running it
 * again (a retried activity, a worker killed after the commit) finds what it made and makes
 * nothing twice. A subject that can no longer be carried out (the invoice was voided meanwhile)
 * answers `failed` with why, rather than throwing: retrying would not change that.
 */
export interface ApprovalSubject {
  subjectTypes: readonly ApprovalSubjectType[];
  carryOut(tx: EntityManager, request: ApprovalRequest, deps: ApprovalSubjectDeps): Promise<ApprovalSubjectOutcome>;
}

const subjects: readonly ApprovalSubject[] = [manualSubject];

export function approvalSubjectFor(subjectType: ApprovalSubjectType): ApprovalSubject {
  const subject = subjects.find((each) => each.subjectTypes.includes(subjectType));
  if (!subject) throw new Error(`no approval subject handles ${subjectType}`);
  return subject;
}
