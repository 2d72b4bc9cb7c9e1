import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { billingStateQuery, billingStatusSearchAttribute } from '../../workflows/messages/billing.js';
import { startTestStack, type TestStack } from '../support/stack.js';
import { expectProblem } from './support/problems.js';

let stack: TestStack;
beforeAll(async () => {
  stack = await startTestStack();
});
afterAll(async () => {
  await stack.stop();
});

async function post<T>(path: string, body: unknown, status: number): Promise<T> {
  const response = await stack.request('POST', path, { body });
  const text = await response.text();
  expect({ status: response.status, text }).toEqual({ status, text: expect.any(String) });
  return JSON.parse(text) as T;
}

async function get<T>(path: string): Promise<T> {
  const response = await stack.request('GET', path);
  const text = await response.text();
  expect({ status: response.status, text }).toEqual({ status: 200, text: expect.any(String) });
  return JSON.parse(text) as T;
}

interface InvoiceView {
  id: string;
  number: string;
  organizationId: string;
  status: string;
  total: number;
  amountDue: number;
  lines: { type: string; amount: number; organizationId: string; subscriptionId?: string }[];
}

/** A root account with a child; the child subscribes (base 10.00 + 5.00 per seat, 2 seats). */
async function account() {
  const suffix = randomUUID().slice(0, 8);
  const applicationSlug = `app-${suffix}`;
  await post('/v1/applications', { slug: applicationSlug, name: 'Reports' }, 201);
  const planCode = `plan-${suffix}`;
  await post('/v1/plans', { code: planCode, name: 'Team', applicationSlug, currency: 'USD', interval: 'month', basePrice: 1_000, seatPrice: 500 }, 201);
  const root = await post<{ id: string }>('/v1/organizations', { name: `Acme ${suffix}`, currency: 'USD', paymentTerms: 'send_invoice', netTermsDays: 30 }, 201);
  const child = await post<{ id: string }>('/v1/organizations', { name: `Acme EU ${suffix}`, currency: 'USD', parentId: root.id }, 201);
  const subscription = await post<{ id: string; currentPeriodEnd: string }>('/v1/subscriptions', { organizationId: child.id, planCode, seats: 2 }, 201);
  return { root, child, subscription };
}

async function journalBalance(invoiceId: string) {
  const rows = await stack.sql<{ debits: string; credits: string; entries: string }>(
    `select sum(l.debit)::text as debits, sum(l.credit)::text as credits, count(distinct e.id)::text as entries
       from journal_entries e join journal_lines l on l.entry_id = e.id where e.invoice_id = $1`,
    [invoiceId],
  );
  return rows[0]!;
}

describe('invoices through the real stack (API → billing workflow → PostgreSQL)', () => {
  it('runs the billing account, consolidating the child, with a gapless number, a balanced journal and an invoice.finalized event', async () => {
    const { root, child, subscription } = await account();
    const run = await post<{ accountId: string; invoices: InvoiceView[] }>(`/v1/organizations/${child.id}/invoices/run`, undefined, 200);
    expect(run.accountId).toBe(root.id);
    expect(run.invoices).toHaveLength(1);
    const invoice = run.invoices[0]!;
    expect(invoice).toMatchObject({ organizationId: root.id, status: 'open', total: 2_000, amountDue: 2_000 });
    expect(invoice.number).toMatch(new RegExp(`^INV-${root.id.slice(0, 8).toUpperCase()}-000001$`));
    expect(invoice.lines.map((line) => [line.type, line.amount, line.organizationId, line.subscriptionId])).toEqual([
      ['subscription', 1_000, child.id, subscription.id],
      ['seat', 1_000, child.id, subscription.id],
    ]);
    expect(await get<InvoiceView>(`/v1/invoices/${invoice.id}`)).toEqual(invoice);
    expect((await get<{ data: InvoiceView[] }>(`/v1/invoices?organizationId=${root.id}`)).data.map((listed) => listed.id)).toEqual([invoice.id]);
    expect(await journalBalance(invoice.id)).toEqual({ debits: '2000', credits: '2000', entries: '1' });
    const events = await stack.sql<{ payload: Record<string, unknown> }>("select payload from webhook_events where organization_id = $1 and type = 'invoice.finalized'", [root.id]);
    expect(events).toHaveLength(1);
    // The same invoice shape as every other invoice.* event, with the billed period.
    expect(events[0]!.payload).toMatchObject({ id: invoice.id, number: invoice.number, status: 'open', total: 2_000, amountDue: 2_000, amountPaid: 0, paidAt: null });
    expect(Object.keys(events[0]!.payload)).toEqual(expect.arrayContaining(['periodStart', 'periodEnd', 'dueAt', 'voidedAt', 'markedUncollectibleAt']));
  });

  it('bills a day once: runs repeated and concurrent return the same invoice, and nothing new is due', async () => {
    const { root } = await account();
    const runs = await Promise.all([1, 2, 3].map(() => post<{ invoices: InvoiceView[] }>(`/v1/organizations/${root.id}/invoices/run`, undefined, 200)));
    const ids = new Set(runs.map((run) => run.invoices[0]?.id));
    expect(ids.size).toBe(1);
    const again = await post<{ invoices: InvoiceView[] }>(`/v1/organizations/${root.id}/invoices/run`, undefined, 200);
    expect(again.invoices.map((invoice) => invoice.id)).toEqual([...ids]);
    expect(await stack.sql('select id from invoices where organization_id = $1', [root.id])).toHaveLength(1);
  });

  it('previews the next period without saving anything, and a child previews only its own share', async () => {
    const { root, child, subscription } = await account();
    await post(`/v1/organizations/${root.id}/invoices/run`, undefined, 200);
    const nextPeriod = subscription.currentPeriodEnd;
    const preview = await get<{ status: string; total: number; lines: { type: string; amount: number; periodStart: string }[] }>(
      `/v1/organizations/${root.id}/upcoming-invoice?asOf=${encodeURIComponent(nextPeriod)}`,
    );
    expect(preview.status).toBe('draft');
    expect(preview.total).toBe(2_000);
    expect(preview.lines.every((line) => line.periodStart === nextPeriod)).toBe(true);
    const billedNow = await get<{ lines: unknown[] }>(`/v1/organizations/${root.id}/upcoming-invoice?asOf=${encodeURIComponent(new Date().toISOString())}`);
    expect(billedNow.lines).toEqual([]);
    // Without asOf: the next invoice, the one of the next period.
    expect(await get(`/v1/organizations/${root.id}/upcoming-invoice`)).toEqual({ ...preview, asOf: nextPeriod });
    const childShare = await get<{ total: number }>(`/v1/organizations/${child.id}/upcoming-invoice?asOf=${encodeURIComponent(nextPeriod)}`);
    expect(childShare.total).toBe(2_000);
    const bySubscription = await get<{ total: number }>(`/v1/subscriptions/${subscription.id}/upcoming-invoice?asOf=${encodeURIComponent(nextPeriod)}`);
    expect(bySubscription.total).toBe(2_000);
    expect(await stack.sql('select id from invoices where organization_id = $1', [root.id])).toHaveLength(1);
  });

  it('answers a billing day with nothing due with no invoice', async () => {
    const suffix = randomUUID().slice(0, 8);
    const lonely = await post<{ id: string }>('/v1/organizations', { name: `Empty ${suffix}`, currency: 'USD' }, 201);
    const run = await post<{ invoices: unknown[] }>(`/v1/organizations/${lonely.id}/invoices/run`, undefined, 200);
    expect(run.invoices).toEqual([]);
  });

  it('answers a run of a poisoned account with 422 amount_overflow at once, and the account needs attention until its closing can be computed', async () => {
    const { root, subscription } = await account();
    const [row] = await stack.sql<{ plan_id: string }>('select plan_id from subscriptions where id = $1', [subscription.id]);
    const planId = row!.plan_id;
    // Below the API's price bound no plan overflows; one written before the bound (here straight into the table) does.
    await stack.sql('update plans set base_price = $1 where id = $2', [Number.MAX_SAFE_INTEGER, planId]);
    const handle = stack.temporal.workflow.getHandle(`billing:${root.id}`);
    const runStarted = Date.now();
    const refused = await expectProblem(await stack.request('POST', `/v1/organizations/${root.id}/invoices/run`), 422, 'amount_overflow');
    // Within the default deadline (5 s), not after retries: the closing is not retried.
    expect(Date.now() - runStarted).toBeLessThan(5_000);
    const today = new Date().toISOString().slice(0, 10);
    expect(refused.details).toMatchObject({ billingDay: today });
    expect(await handle.query(billingStateQuery)).toMatchObject({ status: 'needs_attention', lastError: { code: 'amount_overflow', billingDay: today } });
    expect((await handle.describe()).typedSearchAttributes.get(billingStatusSearchAttribute)).toBe('needs_attention');
    // Asked again the same day: refused again, reported once.
    await expectProblem(await stack.request('POST', `/v1/organizations/${root.id}/invoices/run`), 422, 'amount_overflow');
    const events = await stack.sql<{ payload: Record<string, unknown>; dedupe_key: string }>(
      "select payload, dedupe_key from webhook_events where organization_id = $1 and type = 'billing.failed'",
      [root.id],
    );
    expect(events).toEqual([{ dedupe_key: `billing.failed:${root.id}:${today}:amount_overflow`, payload: expect.objectContaining({ accountId: root.id, billingDay: today, code: 'amount_overflow' }) }]);
    const audits = await stack.sql<{ actor_type: string; target_id: string; after: Record<string, unknown> }>(
      "select actor_type, target_id, after from audit_events where organization_id = $1 and action = 'billing.failed'",
      [root.id],
    );
    expect(audits).toEqual([{ actor_type: 'workflow', target_id: root.id, after: expect.objectContaining({ billingDay: today, code: 'amount_overflow' }) }]);
    expect(await stack.sql('select id from invoices where organization_id = $1', [root.id])).toEqual([]);

    // Fixed: the next run closes the day and the account is back to normal.
    await stack.sql('update plans set base_price = 1000 where id = $1', [planId]);
    const run = await post<{ invoices: InvoiceView[] }>(`/v1/organizations/${root.id}/invoices/run`, undefined, 200);
    expect(run.invoices.map((invoice) => invoice.total)).toEqual([2_000]);
    expect(await handle.query(billingStateQuery)).toMatchObject({ status: 'ok', lastError: null });
    expect((await handle.describe()).typedSearchAttributes.get(billingStatusSearchAttribute)).toBe('ok');
  });
});
