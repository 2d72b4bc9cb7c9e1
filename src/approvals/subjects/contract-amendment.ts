import type { ApprovalSubject } from './subject.js';

/**
 * A contract amendment above a `contract_amendment` rule. The request runs as the child of
 * `contract:<id>`, which applies the amendment as a new version once the child completes
 * approved, and rejects it otherwise. Approving it here records the decision and names the contract.
 */
export const contractAmendmentSubject: ApprovalSubject = {
  subjectTypes: ['contract_amendment'],
  carryOut: (_tx, request) => Promise.resolve({ resultId: request.subjectId ?? null, eventIds: [] }),
};
