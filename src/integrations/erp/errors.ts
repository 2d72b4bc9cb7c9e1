/**
 * How a vendor call failed, which decides what `erp:` does next:
 * - `transient`: 5xx, network failures, timeouts, 408: retried with backoff (after reconciling).
 * - `rate_limited`: 429 (or the vendor's equivalent): retried after `retryAfterMs`.
 * - `auth`: credentials refused even after one token refresh: the integration needs attention.
 * - `validation`: the vendor refused the document itself: not retried, the sync log shows why.
 */
export type ErpFailureKind = 'transient' | 'rate_limited' | 'auth' | 'validation';

export class ErpError extends Error {
  constructor(
    readonly kind: ErpFailureKind,
    message: string,
    readonly details: { status?: number; retryAfterMs?: number; vendorCode?: string } = {},
  ) {
    super(message);
    this.name = 'ErpError';
  }
}
