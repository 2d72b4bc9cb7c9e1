/**
 * The dispute saga survives its worker being SIGKILLed at each step. `dispute:<id>` runs on a task
 * queue of its own, served only by a real worker process (`src/worker.ts`), which is killed:
 * - after the credit note, while the refund is on its way to Stripe (held by the proxy, then dropped);
 * - after Stripe refunded, before its answer came back (the proxy never answers);
 * - after the refund was recorded and journaled, before the workflow finished.
 * A new worker then finishes the saga. Every run ends with one refund at Stripe (the proxy keeps
 * Stripe's idempotency), one credit note carrying it, a balanced journal with one entry for the
 * note, and the dispute resolved with Stripe's refund id.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { WorkflowUpdateStage } from '@temporalio/client';
import { resolveDisputeUpdate, type DisputeState } from '../../workflows/messages/dispute.js';
import { journalOf, insertFinalizedInvoice, payInFull } from '../api/support/collection.js';
import { call, unique } from '../api/support/world.js';
import { sharedServer } from '../support/servers.js';
import { startTestStack, type TestStack } from '../support/stack.js';
import { startStripeFaultProxy, type StripeFaultProxy } from '../support/stripe-fault-proxy.js';
import { eventually } from '../workflow/support/subscriptions.js';
import { spawnWorker, type WorkerProcess } from '../support/worker-process.js';

const refunds = { method: 'POST', path: '/v1/refunds' } as const;

let stack: TestStack;
let proxy: StripeFaultProxy;
const taskQueue = `dispute-crash-${randomUUID()}`;
const workerStderr: string[] = [];
let worker: WorkerProcess | undefined;

/** The real worker entrypoint, serving only the disputes' task queue. */
function startWorker() {
  worker = spawnWorker(
    {
      DATABASE_URL: stack.databaseUrl,
      DATABASE_POOL_MAX: '3',
      TEMPORAL_ADDRESS: sharedServer('temporalAddress'),
      TEMPORAL_TASK_QUEUE: taskQueue,
      WORKFLOW_BUNDLE_PATH: sharedServer('workflowBundle'),
      STRIPE_API_URL: proxy.url,
    },
    workerStderr,
  );
}

async function killWorker() {
  await worker?.kill();
  worker = undefined;
}

beforeAll(async () => {
  proxy = await startStripeFaultProxy(sharedServer('stripeApiUrl'));
  stack = await startTestStack({ stripeApiUrl: proxy.url });
  startWorker();
}, 120_000);
afterAll(async () => {
  await killWorker();
  await stack?.stop();
  await proxy?.stop();
});

/** A paid invoice of 100.00 and a customer dispute of 25.00 on it, committed as the API would, with `dispute:<id>` on the crash queue. */
async function disputedPaidInvoice() {
  const { id: organizationId } = await call<{ id: string }>(stack, 'POST', '/v1/organizations', { body: { name: unique('crash'), currency: 'USD' } });
  const invoiceId = await insertFinalizedInvoice(stack, { organizationId, subtotal: 10_000 });
  const paymentIntentId = `pi_${randomUUID().replaceAll('-', '')}`;
  await payInFull(stack, invoiceId, { method: 'stripe', reference: paymentIntentId });
  const disputeId = randomUUID();
  await stack.sql(
    `insert into disputes (id, organization_id, invoice_id, source, amount, currency, reason, status, opened_by, created_at, updated_at)
     values ($1, $2, $3, 'customer', 2500, 'USD', 'service_issue', 'open', 'crash-test', now(), now())`,
    [disputeId, organizationId, invoiceId],
  );
  const handle = await stack.temporal.workflow.start('disputeToRefund', { workflowId: `dispute:${disputeId}`, taskQueue, args: [{ disputeId }] });
  return { disputeId, invoiceId, paymentIntentId, handle };
}

/** Asks for the refund and returns once the workflow has accepted the update (it is then durable, whatever happens to the worker). */
async function resolveByRefund(disputeId: string) {
  await stack.temporal.workflow.getHandle(`dispute:${disputeId}`).startUpdate(resolveDisputeUpdate, {
    args: [{ outcome: 'refund', amount: null, comment: null, decidedBy: 'finance', origin: { actorType: 'user', actorId: 'user:finance', requestId: 'crash-test' } }],
    waitForStage: WorkflowUpdateStage.ACCEPTED,
  });
}

async function expectRefundedOnce(run: Awaited<ReturnType<typeof disputedPaidInvoice>>) {
  const final = (await run.handle.result()) as DisputeState;
  expect(final).toMatchObject({ status: 'resolved', stripeRefundId: expect.stringMatching(/^re_/) });
  const sent = proxy.requests.filter((request) => request.path === '/v1/refunds' && request.params.get('payment_intent') === run.paymentIntentId);
  expect(sent.filter((request) => request.forwarded && !request.replayed)).toHaveLength(1);
  expect(new Set(sent.map((request) => request.idempotencyKey)).size).toBe(1);
  const notes = await stack.sql<{ id: string; amount: string; stripe_refund_id: string | null; voided_at: Date | null }>(
    'select id, amount, stripe_refund_id, voided_at from credit_notes where invoice_id = $1',
    [run.invoiceId],
  );
  expect(notes).toEqual([{ id: final.creditNoteId, amount: '2500', stripe_refund_id: final.stripeRefundId, voided_at: null }]);
  const journal = await journalOf(stack, { invoiceId: run.invoiceId });
  expect(journal.unbalancedEntries).toEqual([]);
  expect(journal.byAccount.cash).toBe(10_000 - 2_500);
  const entries = await stack.sql('select source_key from journal_entries where source_key = $1', [`credit-note:${final.creditNoteId}`]);
  expect(entries).toHaveLength(1);
  const [dispute] = await stack.sql<{ status: string; stripe_refund_id: string }>('select status, stripe_refund_id from disputes where id = $1', [run.disputeId]);
  expect(dispute).toEqual({ status: 'resolved', stripe_refund_id: final.stripeRefundId });
}

describe('the dispute saga with its worker SIGKILLed', () => {
  it('killed after the credit note, while the refund is on its way to Stripe', async () => {
    const run = await disputedPaidInvoice();
    const hold = proxy.hold(refunds);
    await resolveByRefund(run.disputeId);
    await eventually(async () => (hold.held() > 0 ? true : undefined), 30_000);
    expect(await stack.sql('select id from credit_notes where invoice_id = $1', [run.invoiceId])).toHaveLength(1);
    await killWorker();
    hold.release();
    startWorker();
    await expectRefundedOnce(run);
  }, 120_000);

  it('killed after Stripe refunded, before its answer came back', async () => {
    const run = await disputedPaidInvoice();
    proxy.injectFaults(['timeout_after_success'], refunds);
    await resolveByRefund(run.disputeId);
    await eventually(async () => (proxy.requests.some((request) => request.path === '/v1/refunds' && request.forwarded && request.params.get('payment_intent') === run.paymentIntentId) ? true : undefined), 30_000);
    await killWorker();
    startWorker();
    await expectRefundedOnce(run);
  }, 120_000);

  it('killed after the refund was recorded and journaled, before the workflow finished', async () => {
    const run = await disputedPaidInvoice();
    await resolveByRefund(run.disputeId);
    await eventually(async () => ((await stack.sql<{ status: string }>('select status from disputes where id = $1', [run.disputeId]))[0]?.status === 'resolved' ? true : undefined), 30_000);
    await killWorker();
    startWorker();
    await expectRefundedOnce(run);
  }, 120_000);

  it('left the worker nothing to complain of but the kills', () => {
    expect(workerStderr.join('').match(/"level":(50|60)/g) ?? []).toEqual([]);
  });
});
