import { describe, expect, it } from '@jest/globals';
import { isHardDecline, stripeIdempotencyKeys } from '../../../../src/domain/index.js';

describe('stripeIdempotencyKeys', () => {
  it('builds keys from business ids only, so a retry rebuilds the same key', () => {
    expect(stripeIdempotencyKeys.charge('inv-1', 1)).toBe('invoice:inv-1:charge:1');
    expect(stripeIdempotencyKeys.charge('inv-1', 2)).toBe('invoice:inv-1:charge:2');
    expect(stripeIdempotencyKeys.customer('org-1')).toBe('organization:org-1:customer');
    expect(stripeIdempotencyKeys.setupSession('org-1', 'key:abc')).toBe('organization:org-1:setup-session:key:abc');
    expect(stripeIdempotencyKeys.defaultPaymentMethod('evt_1')).toBe('stripe-event:evt_1:default-payment-method');
  });

  it.each([0, -1, 1.5, Number.NaN])('refuses attempt %p (attempts count from 1)', (attempt) => {
    expect(() => stripeIdempotencyKeys.charge('inv-1', attempt)).toThrow(RangeError);
  });
});

describe('isHardDecline', () => {
  it.each([
    // The issuer will never approve the card: no retry.
    [{ code: 'card_declined', declineCode: 'stolen_card' }, true],
    [{ code: 'card_declined', declineCode: 'lost_card' }, true],
    [{ code: 'card_declined', declineCode: 'pickup_card' }, true],
    [{ code: 'card_declined', declineCode: 'restricted_card' }, true],
    [{ code: 'card_declined', declineCode: 'fraudulent' }, true],
    [{ code: 'card_declined', declineCode: 'do_not_try_again' }, true],
    [{ code: 'card_declined', declineCode: 'revocation_of_authorization' }, true],
    [{ code: 'card_declined', declineCode: 'invalid_account' }, true],
    // Card errors without a decline code are classified by the error code.
    [{ code: 'expired_card' }, true],
    [{ code: 'incorrect_number' }, true],
    // Off-session, authentication cannot happen without the customer.
    [{ code: 'authentication_required', declineCode: 'authentication_required' }, true],
    // Temporary or unspecified: dunning may retry.
    [{ code: 'card_declined', declineCode: 'insufficient_funds' }, false],
    [{ code: 'card_declined', declineCode: 'card_velocity_exceeded' }, false],
    [{ code: 'card_declined', declineCode: 'try_again_later' }, false],
    [{ code: 'card_declined', declineCode: 'do_not_honor' }, false],
    [{ code: 'card_declined', declineCode: 'generic_decline' }, false],
    [{ code: 'processing_error' }, false],
    [{ code: 'card_declined', declineCode: 'a_code_stripe_adds_later' }, false],
    [{}, false],
    // The issuer's advice code makes a decline hard, never a hard one soft.
    [{ code: 'card_declined', declineCode: 'do_not_honor', adviceCode: 'do_not_try_again' }, true],
    [{ code: 'card_declined', declineCode: 'generic_decline', adviceCode: 'confirm_card_data' }, true],
    [{ code: 'card_declined', declineCode: 'insufficient_funds', adviceCode: 'try_again_later' }, false],
    [{ code: 'card_declined', declineCode: 'stolen_card', adviceCode: 'try_again_later' }, true],
    [{ code: 'card_declined', declineCode: 'insufficient_funds', adviceCode: 'an_advice_stripe_adds_later' }, false],
  ])('%j is hard: %s', (decline, hard) => {
    expect(isHardDecline(decline)).toBe(hard);
  });
});
