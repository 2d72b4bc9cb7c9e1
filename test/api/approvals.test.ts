import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { MockActivityEnvironment } from '@temporalio/testing';
import { pino } from 'pino';
import { createApprovalActivities } from '../../activities/approvals.js';
import { systemClock } from '../../src/clock.js';
import { createStripeClient } from '../../src/integrations/stripe.js';
import { workflowIds } from '../../src/temporal/workflow-ids.js';
import { approvalStateQuery } from '../../workflows/messages/approval.js';
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

interface RequestView {
  id: string;
  status: string;
  currentLevel: number;
  requestedBy: string;
  levels: { level: number; role: string; status: string; decisions: { userId: string; decision: string }[] }[];
  comments: { userId: string; body: string }[];
  timeline: { type: string }[];
  execution: { status: string } | null;
}

/** A person: a user id and the Authorization header of their JWT. */
async function person(platformRole?: 'finance' | 'platform_admin') {
  const userId = unique(platformRole ?? 'user');
  return { userId, authorization: bearer(await signJwt(userId, platformRole)) };
}

async function organizationWithOwner() {
  const { id } = await call<{ id: string }>(stack, 'POST', '/v1/organizations', { body: { name: unique('org'), currency: 'USD', paymentTerms: 'send_invoice', netTermsDays: 30 } });
  const owner = await person();
  const admin = await person();
  await call(stack, 'POST', `/v1/organizations/${id}/members`, { body: { userId: owner.userId, role: 'OWNER' } });
  await call(stack, 'POST', `/v1/organizations/${id}/members`, { body: { userId: admin.userId, role: 'ADMIN' } });
  return { id, owner, admin };
}

async function manualRule(organizationId: string, levels: object[]) {
  return call<{ id: string }>(stack, 'POST', '/v1/approval-rules', { body: { name: 'Purchases', subjectType: 'manual', organizationId, levels } });
}

const openManual = (organizationId: string, authorization: string, title = 'New laptops') =>
  call<RequestView>(stack, 'POST', '/v1/approval-requests', { body: { organizationId, subjectType: 'manual', title, amount: 250_000, currency: 'USD' }, authorization });

const decideAs = (id: string, authorization: string, decision: 'approve' | 'reject' = 'approve') =>
  stack.request('POST', `/v1/approval-requests/${id}/decisions`, { body: { decision }, headers: { authorization } });

describe('approvals through the real stack', () => {
  it('refuses a rule whose quorum no level can reach, and writes nothing', async () => {
    const { id } = await organizationWithOwner();
    const response = await stack.request('POST', '/v1/approval-rules', {
      body: { name: 'Impossible', subjectType: 'manual', organizationId: id, levels: [{ role: 'OWNER', approvers: ['a'], quorum: 2 }] },
      headers: { authorization: bearer(process.env.LEDGERFLOW_ADMIN_KEY ?? '') },
    });
    expect(response.status).toBeGreaterThanOrEqual(400);
    expect(await stack.sql('select id from approval_rules where organization_id = $1', [id])).toEqual([]);
  });

  it('takes a request through two levels decided by two people, refusing the requester and a second decision', async () => {
    const { id: organizationId, owner, admin: organizationAdmin } = await organizationWithOwner();
    await manualRule(organizationId, [{ role: 'finance' }, { role: 'platform_admin' }]);
    const finance = await person('finance');
    const admin = await person('platform_admin');
    const opened = await openManual(organizationId, owner.authorization);
    expect(opened).toMatchObject({ status: 'pending', currentLevel: 1, requestedBy: owner.userId });
    await expectProblem(await decideAs(opened.id, owner.authorization), 403, 'not_an_approver');
    // The organization's ADMIN sees the request and may send decisions, but level 1 is finance's: the validator refuses.
    await expectProblem(await decideAs(opened.id, organizationAdmin.authorization), 403, 'not_an_approver');

    const inbox = await call<{ data: { id: string }[] }>(stack, 'GET', '/v1/approval-requests?assignedTo=me', { authorization: finance.authorization });
    expect(inbox.data.map((request) => request.id)).toContain(opened.id);

    const first = await decideAs(opened.id, finance.authorization);
    expect(first.status).toBe(200);
    expect(((await first.json()) as RequestView).currentLevel).toBe(2);
    await expectProblem(await decideAs(opened.id, finance.authorization), 409, 'already_decided');
    const afterFirst = await call<{ data: { id: string }[] }>(stack, 'GET', '/v1/approval-requests?assignedTo=me', { authorization: finance.authorization });
    expect(afterFirst.data.map((request) => request.id)).not.toContain(opened.id);

    const second = await decideAs(opened.id, admin.authorization);
    expect(((await second.json()) as RequestView).status).toBe('approved');
    const executed = await eventually(async () => {
      const view = await call<RequestView>(stack, 'GET', `/v1/approval-requests/${opened.id}`, { authorization: owner.authorization });
      return view.execution ? view : undefined;
    });
    expect(executed.execution).toMatchObject({ status: 'executed' });
    expect(executed.levels.map((level) => [level.status, level.decisions.map((decision) => decision.userId)])).toEqual([
      ['approved', [finance.userId]],
      ['approved', [admin.userId]],
    ]);
    await expectProblem(await decideAs(opened.id, (await person('finance')).authorization), 409, 'already_decided');

    const events = await stack.sql<{ type: string }>(`select type from webhook_events where organization_id = $1 order by id`, [organizationId]);
    expect(events.map((event) => event.type).sort()).toEqual(['approval.approved', 'approval.level_approved', 'approval.level_approved', 'approval.requested']);
    const [approvedEvent] = await stack.sql<{ payload: Record<string, unknown> }>(`select payload from webhook_events where organization_id = $1 and type = 'approval.approved'`, [organizationId]);
    expect(approvedEvent?.payload).toMatchObject({ id: opened.id, status: 'approved', amount: 250_000, currency: 'USD', requestedBy: owner.userId, subjectType: 'manual' });
    const audits = await stack.sql<{ action: string; actor_id: string }>(`select action, actor_id from audit_events where target_id = $1 order by id`, [opened.id]);
    expect(audits.map((row) => row.action)).toEqual(['approval_request.created', 'approval_request.decided', 'approval_request.decided', 'approval_request.executed']);
    expect(audits[1]?.actor_id).toBe(`user:${finance.userId}`);
  });

  it('keeps comments and lets only the requester cancel; a rejection carries out nothing', async () => {
    const { id: organizationId, owner } = await organizationWithOwner();
    const finance = await person('finance');
    await manualRule(organizationId, [{ role: 'finance' }]);
    const canceled = await openManual(organizationId, owner.authorization);
    await call(stack, 'POST', `/v1/approval-requests/${canceled.id}/comments`, { body: { body: 'Needed for the new hires.' }, authorization: owner.authorization });
    await expectProblem(await stack.request('POST', `/v1/approval-requests/${canceled.id}/cancel`, { headers: { authorization: finance.authorization } }), 403, 'not_the_requester');
    const view = await call<RequestView>(stack, 'POST', `/v1/approval-requests/${canceled.id}/cancel`, { authorization: owner.authorization, expect: 200 });
    expect(view.status).toBe('canceled');
    expect(view.comments).toEqual([expect.objectContaining({ userId: owner.userId, body: 'Needed for the new hires.' })]);

    const rejected = await openManual(organizationId, owner.authorization);
    const answer = await decideAs(rejected.id, finance.authorization, 'reject');
    expect(((await answer.json()) as RequestView).status).toBe('rejected');
    const final = await eventually(async () => {
      const [row] = await stack.sql<{ status: string; execution: unknown }>('select status, execution from approval_requests where id = $1', [rejected.id]);
      return row?.status === 'rejected' ? row : undefined;
    });
    expect(final.execution).toBeNull();
  });

  it('keeps the levels a request opened with when its rule changes', async () => {
    const { id: organizationId, owner } = await organizationWithOwner();
    const rule = await manualRule(organizationId, [{ role: 'finance' }]);
    const opened = await openManual(organizationId, owner.authorization);
    await call(stack, 'PATCH', `/v1/approval-rules/${rule.id}`, { body: { levels: [{ role: 'platform_admin' }, { role: 'platform_admin' }] } });
    const finance = await person('finance');
    const decided = await decideAs(opened.id, finance.authorization);
    expect(((await decided.json()) as RequestView).status).toBe('approved');
    // A request opened after the change takes the new levels.
    const later = await openManual(organizationId, owner.authorization);
    expect(later.levels.map((level) => level.role)).toEqual(['platform_admin', 'platform_admin']);
  });

  it('decides 50 requests in bulk, each on its own: 3 the caller may not decide and one unseen id are reported', async () => {
    const finance = await person('finance');
    const own = await organizationWithOwner();
    const other = await organizationWithOwner();
    await manualRule(own.id, [{ role: 'finance' }]);
    await manualRule(other.id, [{ role: 'platform_admin' }]);
    const decidable = await Promise.all(Array.from({ length: 47 }, (_, index) => openManual(own.id, own.owner.authorization, `Item ${index}`)));
    const ineligible = await Promise.all(Array.from({ length: 3 }, () => openManual(other.id, other.owner.authorization)));
    const ids = [...decidable, ...ineligible].map((request) => request.id);
    const { results } = await call<{ results: { id: string; status: string; error?: { code: string } }[] }>(stack, 'POST', '/v1/approval-requests/bulk-decisions', {
      body: { ids, decision: 'approve' },
      authorization: finance.authorization,
      expect: 200,
    });
    expect(results.map((result) => result.id)).toEqual(ids);
    expect(results.filter((result) => result.status === 'approved')).toHaveLength(47);
    expect(results.slice(47).map((result) => result.error?.code)).toEqual(['not_an_approver', 'not_an_approver', 'not_an_approver']);

    // An OWNER of one tenant cannot tell another tenant's request from a missing one.
    const missing = '00000000-0000-4000-8000-000000000000';
    const crossTenant = await call<{ results: { id: string; status: string; error?: { code: string } }[] }>(stack, 'POST', '/v1/approval-requests/bulk-decisions', {
      body: { ids: [ineligible[0]?.id, missing], decision: 'reject' },
      authorization: own.owner.authorization,
      expect: 200,
    });
    expect(crossTenant.results.map((result) => [result.status, result.error?.code])).toEqual([
      ['not_found', 'approval_request_not_found'],
      ['not_found', 'approval_request_not_found'],
    ]);
    const [row] = await stack.sql<{ status: string }>('select status from approval_requests where id = $1', [ineligible[0]?.id]);
    expect(row?.status).toBe('pending');
  }, 120_000);
});

interface CreditNoteRow {
  id: string;
  amount: number;
  disposition: string;
  stripe_refund_id: string | null;
  created_by: string;
}

describe('credit notes and refunds that wait for approval', () => {
  /** An organization with a paid invoice of 11,000 (a Stripe PaymentIntent), and a rule that sends its credit notes of 5,000 or more through finance then platform_admin. */
  async function paidInvoiceUnderRule(subjectType: 'credit_note' | 'refund') {
    const { id: organizationId } = await organizationWithOwner();
    await call(stack, 'POST', '/v1/approval-rules', {
      body: { name: 'Large credits', subjectType, organizationId, minAmount: 5_000, currency: 'USD', levels: [{ role: 'finance' }, { role: 'platform_admin' }] },
    });
    const invoiceId = await insertFinalizedInvoice(stack, { organizationId, subtotal: 10_000, tax: 1_000 });
    const paymentIntentId = `pi_${randomUUID().replaceAll('-', '').slice(0, 24)}`;
    await payInFull(stack, invoiceId, { method: 'stripe', reference: paymentIntentId });
    return { organizationId, invoiceId, paymentIntentId };
  }

  const creditNotesOf = (invoiceId: string) =>
    stack.sql<CreditNoteRow>('select id, amount::int as amount, disposition, stripe_refund_id, created_by from credit_notes where invoice_id = $1 order by created_at', [invoiceId]);

  it('waits over the threshold, is approved by two people at two levels, and only then issues the credit note, once under a retried approval', async () => {
    const { organizationId, invoiceId } = await paidInvoiceUnderRule('credit_note');
    const requester = await person('finance');
    const finance = await person('finance');
    const admin = await person('platform_admin');

    // Under the rule's minAmount: issued at once.
    const small = await stack.request('POST', `/v1/invoices/${invoiceId}/credit-notes`, { body: { amount: 1_000, reason: 'Small goodwill' }, headers: { authorization: requester.authorization } });
    expect(small.status).toBe(201);

    const asked = await stack.request('POST', `/v1/invoices/${invoiceId}/credit-notes`, { body: { amount: 6_000, reason: 'Outage in March' }, headers: { authorization: requester.authorization } });
    expect(asked.status).toBe(202);
    const pending = (await asked.json()) as { status: string; approvalRequestId: string; workflowId: string };
    expect(pending).toEqual({ status: 'pending_approval', approvalRequestId: expect.any(String), workflowId: workflowIds.approval(pending.approvalRequestId) });
    expect((await creditNotesOf(invoiceId)).map((note) => note.amount)).toEqual([1_000]);

    const request = await call<RequestView & { subjectType: string; subjectId: string; amount: number }>(stack, 'GET', `/v1/approval-requests/${pending.approvalRequestId}`, { authorization: finance.authorization });
    expect(request).toMatchObject({ subjectType: 'credit_note', subjectId: invoiceId, amount: 6_000, requestedBy: requester.userId, status: 'pending' });
    await expectProblem(await decideAs(pending.approvalRequestId, requester.authorization), 403, 'not_an_approver');

    // The same decision sent twice with one Idempotency-Key is one decision: the retry gets the same answer.
    const key = { authorization: finance.authorization, 'idempotency-key': unique('approve') };
    const first = await stack.request('POST', `/v1/approval-requests/${pending.approvalRequestId}/decisions`, { body: { decision: 'approve' }, headers: key });
    const retried = await stack.request('POST', `/v1/approval-requests/${pending.approvalRequestId}/decisions`, { body: { decision: 'approve' }, headers: key });
    expect([first.status, retried.status]).toEqual([200, 200]);
    expect(((await retried.json()) as RequestView).levels[0]?.decisions).toHaveLength(1);
    expect((await creditNotesOf(invoiceId)).map((note) => note.amount)).toEqual([1_000]);

    const last = await decideAs(pending.approvalRequestId, admin.authorization);
    expect(((await last.json()) as RequestView).status).toBe('approved');
    const executed = await eventually(async () => {
      const view = await call<RequestView & { execution: { status: string; resultId: string } | null }>(stack, 'GET', `/v1/approval-requests/${pending.approvalRequestId}`, { authorization: finance.authorization });
      return view.execution ? view.execution : undefined;
    });
    expect(executed).toMatchObject({ status: 'executed', resultId: pending.approvalRequestId });
    const notes = await creditNotesOf(invoiceId);
    expect(notes.map((note) => [note.amount, note.disposition])).toEqual([
      [1_000, 'credit_balance'],
      [6_000, 'credit_balance'],
    ]);
    expect(notes[1]).toMatchObject({ id: pending.approvalRequestId, created_by: `user:${requester.userId}` });
    expect((await journalOf(stack, { invoiceId })).unbalancedEntries).toEqual([]);
    const events = await stack.sql<{ type: string }>(`select type from webhook_events where organization_id = $1 and type like 'credit_note.%'`, [organizationId]);
    expect(events.map((event) => event.type)).toEqual(['credit_note.created', 'credit_note.created']);

    // Ops see the action in the request's history: a credit note only writes the database, so it ran as a local activity of the last decision's workflow task.
    const history = await stack.temporal.workflow.getHandle(pending.workflowId).fetchHistory();
    const localActivities = (history.events ?? []).flatMap((event) => {
      const marker = event.markerRecordedEventAttributes;
      return marker?.markerName === 'core_local_activity' ? [Buffer.from(marker.details?.data?.payloads?.[0]?.data ?? []).toString('utf8')] : [];
    });
    expect(localActivities.some((data) => data.includes('"activity_type":"carryOutAndRecord"'))).toBe(true);
  });

  it('issues nothing after a rejection', async () => {
    const { invoiceId } = await paidInvoiceUnderRule('credit_note');
    const requester = await person('finance');
    const finance = await person('finance');
    const asked = await call<{ approvalRequestId: string }>(stack, 'POST', `/v1/invoices/${invoiceId}/credit-notes`, { body: { amount: 8_000, reason: 'Not agreed' }, authorization: requester.authorization, expect: 202 });
    const answer = await decideAs(asked.approvalRequestId, finance.authorization, 'reject');
    expect(((await answer.json()) as RequestView).status).toBe('rejected');
    await stack.temporal.workflow.getHandle(workflowIds.approval(asked.approvalRequestId)).result();
    const [row] = await stack.sql<{ status: string; execution: unknown }>('select status, execution from approval_requests where id = $1', [asked.approvalRequestId]);
    expect(row).toEqual({ status: 'rejected', execution: null });
    expect(await creditNotesOf(invoiceId)).toEqual([]);
  });

  it('refunds through Stripe once when the answer to the refund is lost, and records a credit that no longer fits as failed', async () => {
    const { invoiceId, paymentIntentId } = await paidInvoiceUnderRule('refund');
    const requester = await person('finance');
    const finance = await person('finance');
    const admin = await person('platform_admin');
    const refund = await call<{ approvalRequestId: string }>(stack, 'POST', `/v1/invoices/${invoiceId}/credit-notes`, { body: { amount: 7_000, reason: 'Refund the outage', refund: true }, authorization: requester.authorization, expect: 202 });
    // Both asks fit the invoice when made; together they do not (11,000 in all).
    const credit = await call<{ approvalRequestId: string }>(stack, 'POST', `/v1/invoices/${invoiceId}/credit-notes`, { body: { amount: 5_000, reason: 'Also a credit', refund: true }, authorization: requester.authorization, expect: 202 });

    // Stripe refunds, then its answer is lost: the activity fails, its transaction rolls back, and the retry gets Stripe's remembered answer.
    proxy.injectFaults(['500_after_success'], { method: 'POST', path: '/v1/refunds' });
    for (const id of [refund.approvalRequestId, credit.approvalRequestId]) {
      await decideAs(id, finance.authorization);
      await decideAs(id, admin.authorization);
      await stack.temporal.workflow.getHandle(workflowIds.approval(id)).result();
    }
    const notes = await creditNotesOf(invoiceId);
    expect(notes).toEqual([expect.objectContaining({ id: refund.approvalRequestId, amount: 7_000, disposition: 'refund', stripe_refund_id: expect.stringMatching(/^re_/) })]);
    const refunds = proxy.requests.filter((request) => request.path === '/v1/refunds' && request.params.get('payment_intent') === paymentIntentId);
    expect(refunds.map((request) => [request.idempotencyKey, request.forwarded && !request.replayed])).toEqual([
      [`credit-note:${refund.approvalRequestId}:refund`, true],
      [`credit-note:${refund.approvalRequestId}:refund`, false],
    ]);
    const [failed] = await stack.sql<{ status: string; execution: { status: string; detail: string } }>('select status, execution from approval_requests where id = $1', [credit.approvalRequestId]);
    expect(failed).toMatchObject({ status: 'approved', execution: { status: 'failed', detail: expect.stringContaining('credit_exceeds_creditable') } });
    expect((await journalOf(stack, { invoiceId })).unbalancedEntries).toEqual([]);
  });

  it('carries out and records an approved credit note in one transaction, so a run again after the commit answers the record', async () => {
    const { invoiceId } = await paidInvoiceUnderRule('credit_note');
    const requester = await person('finance');
    const asked = await call<{ approvalRequestId: string }>(stack, 'POST', `/v1/invoices/${invoiceId}/credit-notes`, { body: { amount: 9_000, reason: 'Lost completion' }, authorization: requester.authorization, expect: 202 });
    const handle = stack.temporal.workflow.getHandle(workflowIds.approval(asked.approvalRequestId));
    const pendingState = await handle.query(approvalStateQuery);
    // Stand in for the decisions and the dead worker: the workflow is gone, the request approved.
    await handle.terminate('the worker died');
    await stack.sql(`update approval_requests set status = 'approved' where id = $1`, [asked.approvalRequestId]);
    const approved = { ...pendingState, status: 'approved' as const };
    const activities = createApprovalActivities({
      orm: stack.orm,
      stripe: createStripeClient({ STRIPE_SECRET_KEY: 'sk_test_ledgerflow', STRIPE_API_URL: proxy.url }),
      clock: systemClock,
      logger: pino({ level: 'silent' }),
    });
    const environment = new MockActivityEnvironment({ taskQueue: stack.taskQueue }, { client: stack.temporal });
    const carryOut = () => environment.run((state: typeof approved) => activities.carryOutAndRecord(state), approved);
    const first = await carryOut();
    const again = await carryOut();
    expect(again).toEqual(first);
    expect(first).toMatchObject({ status: 'executed', resultId: asked.approvalRequestId, detail: null });
    expect((await creditNotesOf(invoiceId)).map((note) => note.id)).toEqual([asked.approvalRequestId]);
    const [row] = await stack.sql<{ execution: unknown }>('select execution from approval_requests where id = $1', [asked.approvalRequestId]);
    expect(row?.execution).toEqual(first);
  });

  it('issues one credit note when the worker dies after the commit and the activity runs again', async () => {
    const { invoiceId } = await paidInvoiceUnderRule('credit_note');
    const requester = await person('finance');
    const asked = await call<{ approvalRequestId: string }>(stack, 'POST', `/v1/invoices/${invoiceId}/credit-notes`, { body: { amount: 9_000, reason: 'Lost completion' }, authorization: requester.authorization, expect: 202 });
    // Stand in for the decisions and the dead worker: the workflow is gone, the request is approved, its execution not yet recorded.
    await stack.temporal.workflow.getHandle(workflowIds.approval(asked.approvalRequestId)).terminate('the worker died');
    await stack.sql(`update approval_requests set status = 'approved' where id = $1`, [asked.approvalRequestId]);
    const activities = createApprovalActivities({
      orm: stack.orm,
      stripe: createStripeClient({ STRIPE_SECRET_KEY: 'sk_test_ledgerflow', STRIPE_API_URL: proxy.url }),
      clock: systemClock,
      logger: pino({ level: 'silent' }),
    });
    const environment = new MockActivityEnvironment({ taskQueue: stack.taskQueue }, { client: stack.temporal });
    const input = { requestId: asked.approvalRequestId, subjectType: 'credit_note' as const };
    const execute = () => environment.run((request: typeof input) => activities.executeApprovedSubject(request), input);
    const first = await execute();
    const again = await execute();
    expect(again).toEqual(first);
    expect(first).toEqual({ status: 'executed', resultId: asked.approvalRequestId, detail: null });
    expect((await creditNotesOf(invoiceId)).map((note) => note.id)).toEqual([asked.approvalRequestId]);
    const entries = await stack.sql<{ entries: string }>('select count(*) as entries from journal_entries where source_key = $1', [`credit-note:${asked.approvalRequestId}`]);
    expect(entries).toEqual([{ entries: '1' }]);
  });
});
