import type { ApprovalSubjectType } from '../../domain/index.js';
import { budgetExceptionSubject } from './budget-exception.js';
import { contractAmendmentSubject } from './contract-amendment.js';
import { creditNoteSubject } from './credit-note.js';
import { disputeResolutionSubject } from './dispute-resolution.js';
import { manualSubject } from './manual.js';
import type { ApprovalSubject } from './subject.js';

export { ApprovalSubjectRefusal } from './subject.js';

/** Every kind of subject that can wait for approval, one module each. */
const subjects: readonly ApprovalSubject[] = [manualSubject, creditNoteSubject, disputeResolutionSubject, contractAmendmentSubject, budgetExceptionSubject];

export function approvalSubjectFor(subjectType: ApprovalSubjectType): ApprovalSubject {
  const subject = subjects.find((each) => each.subjectTypes.includes(subjectType));
  if (!subject) throw new Error(`no approval subject handles ${subjectType}`);
  return subject;
}
