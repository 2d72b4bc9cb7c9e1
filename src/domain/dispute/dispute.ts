/**
 * Disputes of an invoice: what may be disputed, which transitions a dispute may take, and how a
 * resolution moves money. Pure: the `dispute:<id>` workflow and the API ask, and act on the answer.
 */

export const disputeReasons = ['billing_error', 'duplicate', 'service_issue', 'not_received', 'other'] as const;
export type DisputeReason = (typeof disputeReasons)[number];

export const disputeStatuses = ['open', 'under_review', 'pending_approval', 'resolved', 'rejected', 'withdrawn'] as const;
export type DisputeStatus = (typeof disputeStatuses)[number];

/** `reject`, `credit` and `refund` are the operator's; `won` and `lost` are Stripe's verdict on a card dispute. */
export const disputeOutcomes = ['reject', 'credit', 'refund', 'won', 'lost'] as const;
export type DisputeOutcome = (typeof disputeOutcomes)[number];
export const operatorOutcomes = ['reject', 'credit', 'refund'] as const;
export type OperatorOutcome = (typeof operatorOutcomes)[number];

export const disputeSources = ['customer', 'stripe'] as const;
export type DisputeSource = (typeof disputeSources)[number];

/** While a dispute is in one of these, the invoice's collection is paused. */
export const activeDisputeStatuses = ['open', 'under_review', 'pending_approval'] as const satisfies readonly DisputeStatus[];
export const isActiveDispute = (status: DisputeStatus): boolean => (activeDisputeStatuses as readonly DisputeStatus[]).includes(status);

/** Why a dispute action is refused; `status` is the HTTP status the API answers it with. */
export interface DisputeRefusal {
  code:
    | 'invoice_not_disputable'
    | 'dispute_already_open'
    | 'dispute_exceeds_invoice'
    | 'dispute_not_resolvable'
    | 'dispute_not_withdrawable'
    | 'dispute_closed'
    | 'resolution_exceeds_dispute'
    | 'credit_exceeds_creditable'
    | 'refund_exceeds_captured';
  status: 409 | 422;
  message: string;
  details: Record<string, string | number>;
}

export interface DisputedInvoice {
  /** The invoice's status: only an open or a paid invoice can be disputed. */
  status: string;
  total: number;
  amountCredited: number;
}

/** What of the invoice may still be disputed: its total less what was credited and what active disputes hold. */
export function disputableAmount(invoice: DisputedInvoice, activelyDisputed: number): number {
  return Math.max(0, invoice.total - invoice.amountCredited - activelyDisputed);
}

/** Whether a customer may open a dispute of `amount` on the invoice now. */
export function openingRefusal(
  invoice: DisputedInvoice,
  ask: { amount: number; customerDisputeActive: boolean; activelyDisputed: number },
): DisputeRefusal | null {
  if (invoice.status !== 'open' && invoice.status !== 'paid') {
    return { code: 'invoice_not_disputable', status: 409, message: `The invoice is ${invoice.status}; only an open or a paid invoice can be disputed.`, details: { invoiceStatus: invoice.status } };
  }
  if (ask.customerDisputeActive) {
    return { code: 'dispute_already_open', status: 409, message: 'The invoice already has an open dispute; comment on it, or wait until it ends.', details: {} };
  }
  const disputable = disputableAmount(invoice, ask.activelyDisputed);
  if (ask.amount > disputable) {
    return { code: 'dispute_exceeds_invoice', status: 422, message: `The invoice has ${disputable} left to dispute (its total less what is credited or disputed); ${ask.amount} is more.`, details: { disputable } };
  }
  return null;
}

/** What a resolution may move: the invoice's credit left, and the refundable rest of its largest Stripe payment. */
export interface ResolutionLimits {
  creditable: number;
  refundable: number;
}

/** Whether the operator may resolve the dispute as asked now (`amount`: what the resolution moves; a rejection moves nothing). */
export function resolutionRefusal(dispute: { status: DisputeStatus; amount: number }, ask: { outcome: OperatorOutcome; amount: number }, limits: ResolutionLimits): DisputeRefusal | null {
  if (dispute.status !== 'open' && dispute.status !== 'under_review') {
    return { code: 'dispute_not_resolvable', status: 409, message: `The dispute is ${dispute.status}; only an open dispute or one under review can be resolved.`, details: { disputeStatus: dispute.status } };
  }
  if (ask.outcome === 'reject') return null;
  if (ask.amount > dispute.amount) {
    return { code: 'resolution_exceeds_dispute', status: 422, message: `The dispute is for ${dispute.amount}; a resolution of ${ask.amount} is more.`, details: { disputed: dispute.amount } };
  }
  if (ask.amount > limits.creditable) {
    return { code: 'credit_exceeds_creditable', status: 409, message: `The invoice has ${limits.creditable} left to credit; ${ask.amount} is more.`, details: { creditable: limits.creditable } };
  }
  if (ask.outcome === 'refund' && ask.amount > limits.refundable) {
    return {
      code: 'refund_exceeds_captured',
      status: 409,
      message: `A refund goes back to one captured Stripe payment of the invoice, which has ${limits.refundable} left to refund; ${ask.amount} is more (resolve with credit instead).`,
      details: { refundable: limits.refundable },
    };
  }
  return null;
}

/** The customer may withdraw while nobody has acted on the dispute for good: not while an approval of its resolution is pending. */
export function withdrawalRefusal(status: DisputeStatus): DisputeRefusal | null {
  if (status === 'open' || status === 'under_review') return null;
  return { code: 'dispute_not_withdrawable', status: 409, message: `The dispute is ${status}; only an open dispute or one under review can be withdrawn.`, details: { disputeStatus: status } };
}

/** Comments are taken while the dispute is active. */
export function commentRefusal(status: DisputeStatus): DisputeRefusal | null {
  if (isActiveDispute(status)) return null;
  return { code: 'dispute_closed', status: 409, message: `The dispute is ${status}; it takes no more comments.`, details: { disputeStatus: status } };
}

/** The status after a comment: the operator's first word puts an open dispute under review. */
export function statusAfterComment(status: DisputeStatus, byOperator: boolean): DisputeStatus {
  return byOperator && status === 'open' ? 'under_review' : status;
}

/**
 * A credit on a disputed invoice settles what the invoice still owes first (the customer is
 * not asked to pay the credited part), and the rest goes to the customer's credit balance,
 * applied to their next invoice.
 */
export function creditSplit(amount: number, receivable: number): { toReceivable: number; toBalance: number } {
  const toReceivable = Math.min(amount, Math.max(0, receivable));
  return { toReceivable, toBalance: amount - toReceivable };
}

/** Stripe's dispute statuses (`needs_response`, `under_review`, `won`, `lost`, the `warning_*` inquiries) as Ledgerflow's. */
export function statusOfStripeDispute(stripeStatus: string): { status: DisputeStatus; outcome: 'won' | 'lost' | null } {
  switch (stripeStatus) {
    case 'won':
    case 'warning_closed':
      return { status: 'rejected', outcome: 'won' };
    case 'lost':
      return { status: 'resolved', outcome: 'lost' };
    case 'under_review':
    case 'warning_under_review':
      return { status: 'under_review', outcome: null };
    default:
      return { status: 'open', outcome: null };
  }
}

/**
 * Which report of a Stripe dispute stands when events arrive in any order: a closed dispute
 * (won or lost) never reopens, and otherwise the report Stripe made later wins.
 */
export function laterStripeReport<T extends { status: DisputeStatus; reportedAt: string }>(current: T, incoming: T): T {
  const closed = (report: T) => !isActiveDispute(report.status);
  if (closed(current) !== closed(incoming)) return closed(current) ? current : incoming;
  return Date.parse(incoming.reportedAt) > Date.parse(current.reportedAt) ? incoming : current;
}
