import type { ApprovalSubject } from './subject.js';

/**
 * A dispute's resolution (credit or refund) above a `dispute_resolution` rule's threshold. The
 * request runs as the child of `dispute:<id>`, which carries the resolution out — credit note,
 * Stripe refund, journal — once the child completes approved, and returns the dispute to review
 * when it does not. Approving it here records the decision and names the dispute.
 */
export const disputeResolutionSubject: ApprovalSubject = {
  subjectTypes: ['dispute_resolution'],
  carryOut: (_tx, request) => Promise.resolve({ resultId: request.subjectId ?? null, eventIds: [] }),
};
