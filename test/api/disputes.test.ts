/**
 * Disputes through the real stack: the API, `dispute:<id>` and `payment:<invoiceId>` on a real
 * worker, PostgreSQL, and stripe-mock behind the fault proxy (which keeps Stripe's idempotency:
 * one refund per key, however often it is sent).
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { paymentStateQuery } from '../../workflows/messages/payment.js';
import { disputeSearchAttributes, disputeStateQuery } from '../../workflows/messages/dispute.js';
import { sharedServer } from '../support/servers.js';
import { startTestStack, type TestStack } from '../support/stack.js';
import { startStripeFaultProxy, type StripeFaultProxy } from '../support/stripe-fault-proxy.js';
import { eventually } from '../workflow/support/subscriptions.js';
import { insertFinalizedInvoice, journalOf, payInFull } from './support/collection.js';
import { expectProblem } from './support/problems.js';
import { bearer, call, signJwt, unique } from './support/world.js';

let stack: TestStack;
let proxy: StripeFaultProxy;
beforeAll(async () => {
  proxy = await startStripeFaultProxy(sharedServer('stripeApiUrl'));
  stack = await startTestStack({ stripeApiUrl: proxy.url });
}, 120_000);
afterAll(async () => {
  await stack?.stop();
  await proxy?.stop();
});

interface DisputeView {
  id: string;
  status: string;
  amount: number;
  source: string;
  resolution: { outcome: string; amount: number; creditNoteId: string | null; refundId: string | null; stripeRefundId: string | null } | null;
  approvalRequestId: string | null;
  lastFailure: { code: string } | null;
  comments: { userId: string; body: string }[];
  workflowId: string | null;
}

const refunds = { method: 'POST', path: '/v1/refunds' } as const;

async function person(platformRole?: 'finance' | 'platform_admin') {
  const userId = unique(platformRole ?? 'user');
  return { userId, authorization: bearer(await signJwt(userId, platformRole)) };
}

/** A customer with an OWNER, and an open invoice of 100.00 (10.00 of it tax) that the customer pays by invoice. */
async function customerWithInvoice(options: { paid?: boolean } = {}) {
  const { id: organizationId } = await call<{ id: string }>(stack, 'POST', '/v1/organizations', { body: { name: unique('customer'), currency: 'USD', paymentTerms: 'send_invoice', netTermsDays: 30 } });
  const owner = await person();
  await call(stack, 'POST', `/v1/organizations/${organizationId}/members`, { body: { userId: owner.userId, role: 'OWNER' } });
  const invoiceId = await insertFinalizedInvoice(stack, { organizationId, subtotal: 9_000, tax: 1_000 });
  const paymentIntentId = `pi_${randomUUID().replaceAll('-', '')}`;
  if (options.paid) await payInFull(stack, invoiceId, { method: 'stripe', reference: paymentIntentId });
  else await stack.temporal.workflow.start('paymentCollection', { workflowId: `payment:${invoiceId}`, taskQueue: stack.taskQueue, args: [{ invoiceId }] });
  return { organizationId, owner, invoiceId, paymentIntentId };
}

const openDispute = (invoiceId: string, authorization: string, amount = 4_000) =>
  call<DisputeView>(stack, 'POST', '/v1/disputes', { body: { invoiceId, amount, reason: 'billing_error', description: 'Billed for seats we removed.' }, authorization });

const resolve = (id: string, body: object, authorization: string) => stack.request('POST', `/v1/disputes/${id}/resolve`, { body, headers: { authorization } });

const disputeRow = async (id: string) => (await stack.sql<{ status: string; credit_note_id: string | null; stripe_refund_id: string | null }>('select status, credit_note_id, stripe_refund_id from disputes where id = $1', [id]))[0];
const creditNotesOf = (invoiceId: string) =>
  stack.sql<{ id: string; amount: string; disposition: string; stripe_refund_id: string | null; voided_at: Date | null }>(
    'select id, amount, disposition, stripe_refund_id, voided_at from credit_notes where invoice_id = $1 order by created_at',
    [invoiceId],
  );
const invoiceRow = async (invoiceId: string) =>
  (await stack.sql<{ status: string; amount_credited: string; credited_to_receivable: string }>('select status, amount_credited, credited_to_receivable from invoices where id = $1', [invoiceId]))[0];
const refundRequestsFor = (paymentIntentId: string) => proxy.requests.filter((request) => request.method === 'POST' && request.path === '/v1/refunds' && request.params.get('payment_intent') === paymentIntentId);

describe('disputes through the real stack', () => {
  it('opens a dispute as the customer, pauses collection, and refuses a second one or more than the invoice', async () => {
    const { owner, invoiceId, organizationId } = await customerWithInvoice();
    const opened = await openDispute(invoiceId, owner.authorization);
    expect(opened).toMatchObject({ status: 'open', amount: 4_000, source: 'customer', workflowId: `dispute:${opened.id}`, resolution: null });

    const handle = stack.temporal.workflow.getHandle(`dispute:${opened.id}`);
    const description = await handle.describe();
    expect(description.typedSearchAttributes.get(disputeSearchAttributes.status)).toBe('open');
    expect(description.typedSearchAttributes.get(disputeSearchAttributes.invoiceId)).toBe(invoiceId);
    const paused = await eventually(async () => {
      const state = await stack.temporal.workflow.getHandle(`payment:${invoiceId}`).query(paymentStateQuery);
      return state.pausedForDisputes.length > 0 ? state : undefined;
    });
    expect(paused.pausedForDisputes).toEqual([opened.id]);

    await expectProblem(await stack.request('POST', '/v1/disputes', { body: { invoiceId, amount: 1, reason: 'other' }, headers: { authorization: owner.authorization } }), 409, 'dispute_already_open');
    const member = await person();
    await call(stack, 'POST', `/v1/organizations/${organizationId}/members`, { body: { userId: member.userId, role: 'MEMBER' } });
    await expectProblem(await stack.request('POST', '/v1/disputes', { body: { invoiceId, amount: 1, reason: 'other' }, headers: { authorization: member.authorization } }), 403, 'forbidden');
    const other = await customerWithInvoice();
    await expectProblem(await stack.request('POST', '/v1/disputes', { body: { invoiceId: other.invoiceId, amount: 10_001, reason: 'other' }, headers: { authorization: other.owner.authorization } }), 422, 'dispute_exceeds_invoice');
    // Another customer cannot tell this invoice from a missing one.
    await expectProblem(await stack.request('POST', '/v1/disputes', { body: { invoiceId, amount: 1, reason: 'other' }, headers: { authorization: other.owner.authorization } }), 404, 'invoice_not_found');
    await expectProblem(await stack.request('GET', `/v1/disputes/${opened.id}`, { headers: { authorization: other.owner.authorization } }), 404, 'dispute_not_found');
    expect(await stack.sql('select id from disputes where invoice_id = $1', [other.invoiceId])).toEqual([]);

    const events = await stack.sql<{ type: string }>("select type from webhook_events where organization_id = $1 and type like 'dispute.%'", [organizationId]);
    expect(events.map((event) => event.type)).toEqual(['dispute.opened']);
  });

  it("takes comments from both sides, goes under review at the operator's, and the customer withdraws it: collection resumes", async () => {
    const { owner, invoiceId } = await customerWithInvoice();
    const finance = await person('finance');
    const opened = await openDispute(invoiceId, owner.authorization);
    await call(stack, 'POST', `/v1/disputes/${opened.id}/comments`, { body: { body: 'We removed 4 seats on the 3rd.' }, authorization: owner.authorization });
    expect((await call<DisputeView>(stack, 'GET', `/v1/disputes/${opened.id}`, { authorization: owner.authorization })).status).toBe('open');
    await call(stack, 'POST', `/v1/disputes/${opened.id}/comments`, { body: { body: 'Looking into it.' }, authorization: finance.authorization });
    const reviewed = await call<DisputeView>(stack, 'GET', `/v1/disputes/${opened.id}`, { authorization: owner.authorization });
    expect(reviewed.status).toBe('under_review');
    expect(reviewed.comments.map((comment) => [comment.userId, comment.body])).toEqual([
      [owner.userId, 'We removed 4 seats on the 3rd.'],
      [finance.userId, 'Looking into it.'],
    ]);
    // The operator resolves; only the customer withdraws.
    await expectProblem(await resolve(opened.id, { outcome: 'credit' }, owner.authorization), 403, 'forbidden');
    await expectProblem(await stack.request('POST', `/v1/disputes/${opened.id}/withdraw`, { headers: { authorization: finance.authorization } }), 403, 'forbidden');
    const withdrawn = await call<DisputeView>(stack, 'POST', `/v1/disputes/${opened.id}/withdraw`, { authorization: owner.authorization, expect: 200 });
    expect(withdrawn.status).toBe('withdrawn');
    await expectProblem(await resolve(opened.id, { outcome: 'reject' }, finance.authorization), 409, 'dispute_closed');
    const resumed = await eventually(async () => {
      const state = await stack.temporal.workflow.getHandle(`payment:${invoiceId}`).query(paymentStateQuery);
      return state.pausedForDisputes.length === 0 && state.phase !== 'paused_for_dispute' ? state : undefined;
    });
    expect(resumed).toMatchObject({ invoiceStatus: 'open', amountOwed: 10_000 });
    // A new dispute may be opened once the first has ended.
    expect((await openDispute(invoiceId, owner.authorization)).status).toBe('open');
  });

  it('credits an open invoice: what it owes is settled first, the journal balances, and only the rest is left to collect', async () => {
    const { owner, invoiceId } = await customerWithInvoice();
    const finance = await person('finance');
    const opened = await openDispute(invoiceId, owner.authorization, 4_000);
    const answer = await resolve(opened.id, { outcome: 'credit', amount: 3_000, comment: 'Seats removed on the 3rd.' }, finance.authorization);
    expect(answer.status).toBe(200);
    const resolved = (await answer.json()) as DisputeView;
    expect(resolved).toMatchObject({ status: 'resolved', resolution: { outcome: 'credit', amount: 3_000, refundId: null, stripeRefundId: null } });
    const [note] = await creditNotesOf(invoiceId);
    expect(note).toMatchObject({ id: resolved.resolution?.creditNoteId, amount: '3000', disposition: 'credit_balance', voided_at: null });
    expect(await invoiceRow(invoiceId)).toEqual({ status: 'open', amount_credited: '3000', credited_to_receivable: '3000' });
    const journal = await journalOf(stack, { invoiceId });
    expect(journal.unbalancedEntries).toEqual([]);
    expect(journal.byAccount.accounts_receivable).toBe(7_000);
    const owed = await eventually(async () => {
      const state = await stack.temporal.workflow.getHandle(`payment:${invoiceId}`).query(paymentStateQuery);
      return state.amountOwed === 7_000 && state.pausedForDisputes.length === 0 ? state : undefined;
    });
    expect(owed.invoiceStatus).toBe('open');
    await expectProblem(await resolve(opened.id, { outcome: 'credit' }, finance.authorization), 409, 'dispute_closed');
  });

  it('refunds a paid invoice through Stripe once, even when the answer is lost after Stripe refunded (a 500, then a reset)', async () => {
    const { owner, invoiceId, paymentIntentId } = await customerWithInvoice({ paid: true });
    const finance = await person('finance');
    const opened = await openDispute(invoiceId, owner.authorization, 2_500);
    proxy.injectFaults(['500_after_success', 'reset_after_success'], refunds);
    const answer = await resolve(opened.id, { outcome: 'refund' }, finance.authorization);
    expect(answer.status).toBe(200);
    const resolved = (await answer.json()) as DisputeView;
    expect(resolved).toMatchObject({ status: 'resolved', resolution: { outcome: 'refund', amount: 2_500, stripeRefundId: expect.stringMatching(/^re_/) } });
    const sent = refundRequestsFor(paymentIntentId);
    expect(sent.length).toBeGreaterThanOrEqual(3);
    expect(new Set(sent.map((request) => request.idempotencyKey))).toEqual(new Set([`dispute:${opened.id}:refund:${resolved.resolution?.creditNoteId}`]));
    // Stripe refunded once: every later request was answered from the first.
    expect(sent.filter((request) => request.forwarded && !request.replayed)).toHaveLength(1);
    const notes = await creditNotesOf(invoiceId);
    expect(notes).toEqual([expect.objectContaining({ amount: '2500', disposition: 'refund', stripe_refund_id: resolved.resolution?.stripeRefundId, voided_at: null })]);
    const journal = await journalOf(stack, { invoiceId });
    expect(journal.unbalancedEntries).toEqual([]);
    expect(journal.byAccount.cash).toBe(10_000 - 2_500);
    expect(await stack.temporal.workflow.getHandle(`dispute:${opened.id}`).result()).toMatchObject({ status: 'resolved' });
  });

  it('compensates a refund Stripe refuses for good: the credit note is voided, nothing is posted, and the dispute is reviewed again', async () => {
    const { owner, invoiceId, paymentIntentId } = await customerWithInvoice({ paid: true });
    const finance = await person('finance');
    proxy.rewrite(refunds, (_, { params }) =>
      params.get('payment_intent') === paymentIntentId
        ? { status: 400, body: { error: { type: 'invalid_request_error', code: 'charge_already_refunded', message: 'Charge has already been refunded.' } } }
        : undefined,
    );
    const opened = await openDispute(invoiceId, owner.authorization, 2_500);
    const answer = await resolve(opened.id, { outcome: 'refund' }, finance.authorization);
    expect(answer.status).toBe(200);
    const reviewed = (await answer.json()) as DisputeView;
    expect(reviewed).toMatchObject({ status: 'under_review', resolution: null, lastFailure: { code: 'charge_already_refunded' } });
    expect(await creditNotesOf(invoiceId)).toEqual([expect.objectContaining({ disposition: 'refund', stripe_refund_id: null, voided_at: expect.any(Date) })]);
    expect(await invoiceRow(invoiceId)).toMatchObject({ status: 'paid', amount_credited: '0' });
    const journal = await journalOf(stack, { invoiceId });
    expect(journal.unbalancedEntries).toEqual([]);
    expect(journal.byAccount.cash).toBe(10_000);
    // The operator resolves again, with a credit to the balance: it goes through.
    const credited = await resolve(opened.id, { outcome: 'credit' }, finance.authorization);
    expect(((await credited.json()) as DisputeView).status).toBe('resolved');
    expect((await journalOf(stack, { invoiceId })).byAccount.customer_credit).toBe(-2_500);
  });

  it('waits for a dispute_resolution approval as a child workflow: rejected, the dispute is reviewed again; approved, it is carried out', async () => {
    const { owner, invoiceId, organizationId } = await customerWithInvoice();
    const finance = await person('finance');
    const admin = await person('platform_admin');
    await call(stack, 'POST', '/v1/approval-rules', { body: { name: 'Large dispute credits', subjectType: 'dispute_resolution', organizationId, minAmount: 1_000, currency: 'USD', levels: [{ role: 'platform_admin' }] } });
    const opened = await openDispute(invoiceId, owner.authorization, 5_000);
    // Below the threshold: no approval.
    const pending = await resolve(opened.id, { outcome: 'credit', amount: 5_000 }, finance.authorization);
    expect(pending.status).toBe(202);
    const waiting = (await pending.json()) as DisputeView;
    expect(waiting).toMatchObject({ status: 'pending_approval', approvalRequestId: expect.any(String) });
    const request = await call<{ subjectType: string; subjectId: string; amount: number; status: string }>(stack, 'GET', `/v1/approval-requests/${waiting.approvalRequestId}`, { authorization: admin.authorization });
    expect(request).toMatchObject({ subjectType: 'dispute_resolution', subjectId: opened.id, amount: 5_000, status: 'pending' });
    const described = await stack.temporal.workflow.getHandle(`approval:${waiting.approvalRequestId}`).describe();
    expect(described.parentExecution?.workflowId).toBe(`dispute:${opened.id}`);
    await expectProblem(await stack.request('POST', `/v1/disputes/${opened.id}/withdraw`, { headers: { authorization: owner.authorization } }), 409, 'dispute_not_withdrawable');
    expect(await creditNotesOf(invoiceId)).toEqual([]);

    await call(stack, 'POST', `/v1/approval-requests/${waiting.approvalRequestId}/decisions`, { body: { decision: 'reject', comment: 'Credit 2,000 instead.' }, authorization: admin.authorization, expect: 200 });
    const reviewed = await eventually(async () => {
      const view = await call<DisputeView>(stack, 'GET', `/v1/disputes/${opened.id}`, { authorization: owner.authorization });
      return view.status === 'under_review' ? view : undefined;
    });
    expect(reviewed.resolution).toBeNull();
    expect(await creditNotesOf(invoiceId)).toEqual([]);

    const again = await resolve(opened.id, { outcome: 'credit', amount: 2_000 }, finance.authorization);
    expect(again.status).toBe(202);
    const second = (await again.json()) as DisputeView;
    await call(stack, 'POST', `/v1/approval-requests/${second.approvalRequestId}/decisions`, { body: { decision: 'approve' }, authorization: admin.authorization, expect: 200 });
    const resolved = await eventually(async () => {
      const view = await call<DisputeView>(stack, 'GET', `/v1/disputes/${opened.id}`, { authorization: owner.authorization });
      return view.status === 'resolved' ? view : undefined;
    });
    expect(resolved.resolution).toMatchObject({ outcome: 'credit', amount: 2_000 });
    expect(await creditNotesOf(invoiceId)).toEqual([expect.objectContaining({ amount: '2000', voided_at: null })]);
    expect((await journalOf(stack, { invoiceId })).unbalancedEntries).toEqual([]);
    expect(await stack.temporal.workflow.getHandle(`dispute:${opened.id}`).query(disputeStateQuery)).toMatchObject({ status: 'resolved' });
  });

  it('rejects a dispute: nothing moves and collection resumes for the whole amount', async () => {
    const { owner, invoiceId } = await customerWithInvoice();
    const finance = await person('finance');
    const opened = await openDispute(invoiceId, owner.authorization, 10_000);
    const answer = await resolve(opened.id, { outcome: 'reject', comment: 'The seats were in use.' }, finance.authorization);
    expect(((await answer.json()) as DisputeView)).toMatchObject({ status: 'rejected', resolution: { outcome: 'reject', amount: 0 } });
    await expectProblem(await resolve(opened.id, { outcome: 'reject', amount: 5 }, finance.authorization), 400, 'validation_failed');
    expect(await creditNotesOf(invoiceId)).toEqual([]);
    expect((await disputeRow(opened.id))?.status).toBe('rejected');
    await eventually(async () => {
      const state = await stack.temporal.workflow.getHandle(`payment:${invoiceId}`).query(paymentStateQuery);
      return state.pausedForDisputes.length === 0 && state.amountOwed === 10_000 ? state : undefined;
    });
  });
});
