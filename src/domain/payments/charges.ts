/**
 * Payment decisions that need no I/O: Stripe idempotency keys built from business ids, and
 * whether a card decline is worth retrying. The Stripe gateway, the payment activities and the
 * payment workflow share them.
 */

/** What one charge attempt of an invoice came to. Plain JSON: it crosses the activity boundary. */
export type ChargeResult =
  | { outcome: 'succeeded'; paymentIntentId: string }
  /** Not final yet: Stripe reports the end by webhook (`payment_intent.succeeded` or `payment_failed`). */
  | { outcome: 'requires_action' | 'processing'; paymentIntentId: string }
  | {
      outcome: 'declined';
      /** A hard decline: retrying the same payment method cannot succeed, so dunning stops. */
      hard: boolean;
      /** Stripe's decline code (or error code), or `no_payment_method` when none is on file. */
      code: string;
      message: string;
      /** Absent when no PaymentIntent was created (no payment method on file). */
      paymentIntentId?: string;
    };

/**
 * Stripe idempotency keys. Retries (Temporal re-running an activity, a client resending a
 * request) rebuild the same key from the same business ids, so Stripe executes the call once.
 */
export const stripeIdempotencyKeys = {
  customer: (organizationId: string) => `organization:${organizationId}:customer`,
  charge: (invoiceId: string, attempt: number) => {
    if (!Number.isSafeInteger(attempt) || attempt < 1) throw new RangeError(`a charge attempt is a positive integer, not ${attempt}`);
    return `invoice:${invoiceId}:charge:${attempt}`;
  },
  /** `requestKey` identifies one request to set up a payment method (from its Idempotency-Key). */
  setupSession: (organizationId: string, requestKey: string) => `organization:${organizationId}:setup-session:${requestKey}`,
  /** One default-payment-method update per Stripe event that asks for it. */
  defaultPaymentMethod: (stripeEventId: string) => `stripe-event:${stripeEventId}:default-payment-method`,
  /** One refund per credit note, whether issued at once or once its approval request is approved. */
  creditNoteRefund: (creditNoteId: string) => `credit-note:${creditNoteId}:refund`,
  /** A dispute's refund: one per dispute and credit note (a refund Stripe refused voids its note; a second resolution makes another). */
  disputeRefund: (disputeId: string, creditNoteId: string) => `dispute:${disputeId}:refund:${creditNoteId}`,
} as const;

/**
 * Decline codes after which the same card will not be approved, so retrying is pointless and the
 * card networks may fine repeated attempts. Sources (read 2026-11):
 * - docs.stripe.com/declines/codes — the decline codes and their next steps: lost/stolen/pickup/
 *   restricted cards and fraud blocks ("the customer needs to contact their card issuer" or use
 *   another card), expired or invalid card data ("the customer should use another card" or
 *   correct the data), revoked authorizations and stop-payment orders (stop charging).
 * - docs.stripe.com/billing/revenue-recovery/smart-retries — Stripe itself does not retry
 *   "failures where the issuer provided a non-retryable decline code".
 * - Visa's reattempt category 1 ("issuer will never approve": lost, stolen, pick-up, closed
 *   account, invalid card number), which allows no reattempt at all.
 * `authentication_required` is here because the payment is off-session: the customer has to come
 * back on-session to authenticate, so retrying off-session fails the same way.
 */
const hardDeclineCodes: ReadonlySet<string> = new Set([
  'authentication_required',
  'card_not_supported',
  'currency_not_supported',
  'do_not_try_again',
  'expired_card',
  'fraudulent',
  'incorrect_number',
  'invalid_account',
  'invalid_number',
  'lost_card',
  'merchant_blacklist',
  'new_account_information_available',
  'pickup_card',
  'restricted_card',
  'revocation_of_all_authorizations',
  'revocation_of_authorization',
  'security_violation',
  'stolen_card',
  'stop_payment_order',
  'transaction_not_allowed',
]);

/**
 * Stripe's `advice_code` (docs.stripe.com/declines/card#retrying-issuer-declines) is the issuer's
 * own instruction: `do_not_try_again`, and `confirm_card_data` (the customer must update the
 * card), make any decline hard. `try_again_later` does not soften a hard decline code: retrying
 * a card reported lost or stolen is what the networks fine.
 */
const hardAdviceCodes: ReadonlySet<string> = new Set(['do_not_try_again', 'confirm_card_data']);

/**
 * Whether a decline is hard. Everything not known to be hard is soft — `insufficient_funds`,
 * `card_velocity_exceeded`, `try_again_later`, `processing_error`, `issuer_not_available`,
 * `generic_decline` and `do_not_honor` (unspecified issuer declines, which Visa puts in its
 * retryable categories) among them — because dunning retries a bounded number of times anyway.
 */
export function isHardDecline(decline: { code?: string | null; declineCode?: string | null; adviceCode?: string | null }): boolean {
  if (decline.adviceCode && hardAdviceCodes.has(decline.adviceCode)) return true;
  const code = decline.declineCode ?? decline.code;
  return code ? hardDeclineCodes.has(code) : false;
}
