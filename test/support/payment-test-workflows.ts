/**
 * Workflows for the Stripe tests only (bundled by those suites, never registered in production):
 * one runs the payment activities the way the payment workflow does, one stands in for
 * `payment:<invoiceId>` and records the Stripe signals it receives.
 */
import { condition, defineQuery, defineSignal, proxyActivities, setHandler } from '@temporalio/workflow';
import type { ChargeInvoicePaymentInput, ChargeResult, PaymentActivities } from '../../activities/payments.js';
import {
  chargeRefundedSignal,
  disputeOpenedSignal,
  paymentFailedSignal,
  paymentSucceededSignal,
} from '../../workflows/messages/payment.js';

const { chargeInvoicePayment, ensureStripeCustomer } = proxyActivities<PaymentActivities>({
  // Short, so a client timeout of the test's Stripe client (not this) decides each attempt.
  startToCloseTimeout: '20s',
  retry: { initialInterval: '50ms', backoffCoefficient: 1, maximumInterval: '50ms', maximumAttempts: 30 },
});

/** One charge attempt, retried by Temporal on transient failures with the same input. */
export async function chargeInvoiceProbe(input: ChargeInvoicePaymentInput): Promise<ChargeResult> {
  return chargeInvoicePayment(input);
}

/** The organization's customer, asked for `times` times at once. */
export async function ensureCustomerProbe(organizationId: string, times: number): Promise<string[]> {
  return Promise.all(Array.from({ length: times }, () => ensureStripeCustomer(organizationId)));
}

export interface RecordedSignal {
  signal: 'paymentSucceeded' | 'paymentFailed' | 'chargeRefunded' | 'disputeOpened';
  stripeEventId: string;
  payload: unknown;
}

export const recordedSignalsQuery = defineQuery<RecordedSignal[]>('recordedSignals');
export const finishRecordingSignal = defineSignal('finishRecording');

/** Every Stripe signal as it arrives, duplicates included: the API, not this, must deliver each event once. */
export async function stripeSignalRecorder(): Promise<RecordedSignal[]> {
  const received: RecordedSignal[] = [];
  let finished = false;
  setHandler(paymentSucceededSignal, (event) => void received.push({ signal: 'paymentSucceeded', stripeEventId: event.stripeEventId, payload: event }));
  setHandler(paymentFailedSignal, (event) => void received.push({ signal: 'paymentFailed', stripeEventId: event.stripeEventId, payload: event }));
  setHandler(chargeRefundedSignal, (event) => void received.push({ signal: 'chargeRefunded', stripeEventId: event.stripeEventId, payload: event }));
  setHandler(disputeOpenedSignal, (event) => void received.push({ signal: 'disputeOpened', stripeEventId: event.stripeEventId, payload: event }));
  setHandler(recordedSignalsQuery, () => received);
  setHandler(finishRecordingSignal, () => void (finished = true));
  await condition(() => finished);
  return received;
}
