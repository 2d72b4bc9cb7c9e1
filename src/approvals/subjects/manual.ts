import type { ApprovalSubject } from './subject.js';

/** A request someone opened by hand (a purchase, an exception): approving it records the decision and carries out nothing. */
export const manualSubject: ApprovalSubject = {
  subjectTypes: ['manual'],
  carryOut: () => Promise.resolve({ resultId: null, eventIds: [] }),
};
