import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { chargeModels } from '../../src/domain/pricing/index.js';
import { workflowIds } from '../../src/temporal/workflow-ids.js';
import { startTestStack, type TestStack } from '../support/stack.js';
import { eventually } from '../workflow/support/subscriptions.js';
import { createMetric, days, iso } from './support/usage.js';
import { call, unique } from './support/world.js';

let stack: TestStack;
beforeAll(async () => {
  stack = await startTestStack();
});
afterAll(async () => {
  await stack.stop();
});

interface PreviewLine {
  type: string;
  organizationId: string;
  subscriptionId?: string;
  departmentId?: string;
  metricCode?: string;
  quantity: string;
  amount: number;
  periodStart: string;
  periodEnd: string;
}

interface Preview {
  organizationId: string;
  status: string;
  asOf: string;
  billingDay: string;
  total: number;
  amountDue: number;
  lines: PreviewLine[];
}

interface CreatedSubscription {
  id: string;
  currentPeriodStart: string;
  currentPeriodEnd: string;
  change?: { prorationLines: { type: string; amount: number; periodStart: string }[] };
}

const preview = (path: string) => call<Preview>(stack, 'GET', path);
const midnight = (instant: string) => `${instant.slice(0, 10)}T00:00:00.000Z`;
const today = () => midnight(new Date().toISOString());

/** An application and a monthly plan of its own; `plan` holds the plan's other terms. */
async function createPlan(plan: Record<string, unknown>): Promise<string> {
  const applicationSlug = unique('app');
  const code = unique('plan');
  await call(stack, 'POST', '/v1/applications', { body: { slug: applicationSlug, name: 'Analytics' } });
  await call(stack, 'POST', '/v1/plans', { body: { code, name: 'Metered', applicationSlug, currency: 'USD', interval: 'month', ...plan } });
  return code;
}

const createOrganization = (body: Record<string, unknown> = {}) =>
  call<{ id: string }>(stack, 'POST', '/v1/organizations', { body: { name: unique('org'), currency: 'USD', ...body } });

const subscribe = (organizationId: string, planCode: string, body: Record<string, unknown> = {}) =>
  call<CreatedSubscription>(stack, 'POST', '/v1/subscriptions', { body: { organizationId, planCode, ...body } });

/** Waits until the account's billing cycle has read its schedule and sleeps: from then on only a run bills it today. */
async function cycleAsleep(organizationId: string) {
  const handle = stack.temporal.workflow.getHandle(workflowIds.billing(organizationId));
  await eventually(async () => ((await handle.fetchHistory()).events ?? []).some((event) => event.timerStartedEventAttributes) || undefined);
}

const runBilling = (organizationId: string) => call(stack, 'POST', `/v1/organizations/${organizationId}/invoices/run`, { expect: 200 });

async function recordUsage(organizationId: string, events: Record<string, unknown>[]) {
  const response = await stack.request('POST', '/v1/usage/batch', {
    body: { events: events.map((event) => ({ eventId: unique('evt'), organizationId, ...event })) },
  });
  expect(response.status).toBe(202);
}

/** Everything a closing writes (the subscription's own workflow writes its rows and events meanwhile): a preview must leave it as it was. */
async function billingWrites(organizationId: string) {
  const [row] = await stack.sql(
    `select (select count(*) from invoices where organization_id = $1) as invoices,
            (select count(*) from invoice_lines l join invoices i on i.id = l.invoice_id where i.organization_id = $1) as lines,
            (select count(*) from journal_entries where organization_id = $1) as journal,
            (select count(*) from webhook_events where organization_id = $1 and type like 'invoice.%') as events,
            (select count(*) from invoice_number_sequences) as sequences,
            (select string_agg(coalesce(usage_closed_through::text, '-'), ',' order by id) from subscriptions where organization_id = $1) as closed`,
    [organizationId],
  );
  return row;
}

/** What a usage line says, in a fixed order. */
type UsageLine = Pick<PreviewLine, 'metricCode' | 'organizationId' | 'departmentId' | 'quantity' | 'amount'>;
const inOrder = (lines: UsageLine[]) =>
  lines.sort((a, b) => `${a.organizationId}${a.metricCode}${a.departmentId ?? ''}`.localeCompare(`${b.organizationId}${b.metricCode}${b.departmentId ?? ''}`));
const usageLines = (lines: readonly PreviewLine[]) =>
  inOrder(
    lines
      .filter((line) => line.type === 'usage')
      .map(({ metricCode, organizationId, departmentId, quantity, amount }) => ({ metricCode, organizationId, ...(departmentId ? { departmentId } : {}), quantity, amount })),
  );

describe('GET …/upcoming-invoice without asOf: the next invoice the billing cycle issues', () => {
  it('rates the usage recorded so far under every charge model at the next billing day, with the next period’s fee in advance, and saves nothing', async () => {
    // One charge per model in the registry, each with the usage recorded today and the amount it comes to.
    const cases = [
      {
        model: 'per_unit',
        charge: { unitPrice: '0.015', included: 100 },
        quantities: [1_000, 234],
        // (1,234 − 100 included) × 0.015 = 17.01
        amount: 1_701,
      },
      {
        model: 'graduated',
        charge: { tiers: [{ upTo: 100, unitPrice: '0.10' }, { upTo: null, unitPrice: '0.05', flatFee: 200 }] },
        quantities: [200, 50],
        // 100 × 0.10 + 150 × 0.05 + the second tier's 2.00 = 19.50
        amount: 1_950,
      },
      {
        model: 'volume',
        charge: { tiers: [{ upTo: 100, unitPrice: '0.10' }, { upTo: null, unitPrice: '0.04', flatFee: 100 }] },
        quantities: [150, 100],
        // all 250 at the second tier's 0.04, plus its 1.00 = 11.00
        amount: 1_100,
      },
      {
        model: 'package',
        charge: { unitPrice: '2.50', packageSize: 100 },
        quantities: [249, 1],
        // 250 units start 3 packages of 100: 3 × 2.50 = 7.50
        amount: 750,
      },
      {
        model: 'percentage',
        charge: { rate: '2.5', fixedFee: '0.30' },
        amounts: ['100.00', '40.00'],
        // 2.5 % of 140.00 + 2 events × 0.30 = 4.10
        amount: 410,
      },
    ];
    expect(cases.map((entry) => entry.model).sort()).toEqual(Object.keys(chargeModels).sort());
    const metered = await Promise.all(
      cases.map(async (entry) => ({ ...entry, metricCode: await createMetric(stack, 'sum', entry.amounts ? 'amount' : undefined) })),
    );
    const planCode = await createPlan({
      basePrice: 2_000,
      charges: metered.map((entry) => ({ metricCode: entry.metricCode, model: entry.model, ...entry.charge })),
    });
    const organization = await createOrganization();
    const subscription = await subscribe(organization.id, planCode);
    await runBilling(organization.id);
    await recordUsage(
      organization.id,
      metered.flatMap((entry): Record<string, unknown>[] =>
        entry.amounts
          ? entry.amounts.map((amount) => ({ metricCode: entry.metricCode, properties: { amount } }))
          : entry.quantities.map((quantity) => ({ metricCode: entry.metricCode, quantity })),
      ),
    );
    const before = await billingWrites(organization.id);

    const next = await preview(`/v1/subscriptions/${subscription.id}/upcoming-invoice`);
    expect(usageLines(next.lines)).toEqual(
      inOrder(
        metered.map((entry) => ({
          metricCode: entry.metricCode,
          organizationId: organization.id,
          quantity: entry.amounts ? '140' : String(entry.quantities.reduce((sum, quantity) => sum + quantity, 0)),
          amount: entry.amount,
        })),
      ),
    );
    for (const line of next.lines.filter((candidate) => candidate.type === 'usage')) {
      expect([line.periodStart, line.periodEnd, line.subscriptionId]).toEqual([subscription.currentPeriodStart, subscription.currentPeriodEnd, subscription.id]);
    }
    // The next period's base fee, billed in advance on the same invoice.
    expect(next.lines.filter((line) => line.type !== 'usage').map((line) => [line.type, line.amount, line.periodStart])).toEqual([
      ['subscription', 2_000, subscription.currentPeriodEnd],
    ]);
    const usageTotal = metered.reduce((sum, entry) => sum + entry.amount, 0);
    expect({ total: next.total, amountDue: next.amountDue }).toEqual({ total: 2_000 + usageTotal, amountDue: 2_000 + usageTotal });
    expect(next).toMatchObject({ status: 'draft', billingDay: subscription.currentPeriodEnd, asOf: subscription.currentPeriodEnd });

    // The billing account's preview is the same invoice; `asOf` that day previews it too.
    const ofAccount = await preview(`/v1/organizations/${organization.id}/upcoming-invoice`);
    expect(ofAccount).toEqual(next);
    const atPeriodEnd = await preview(`/v1/organizations/${organization.id}/upcoming-invoice?asOf=${encodeURIComponent(subscription.currentPeriodEnd)}`);
    expect(atPeriodEnd).toEqual(next);
    expect(await billingWrites(organization.id)).toEqual(before);
  });

  it('keeps asOf previewing the given day: billing now would issue nothing, the day after the period ends only what that day owes', async () => {
    const metricCode = await createMetric(stack, 'sum');
    const planCode = await createPlan({ basePrice: 1_000, charges: [{ metricCode, model: 'per_unit', unitPrice: '0.10' }] });
    const organization = await createOrganization();
    const subscription = await subscribe(organization.id, planCode);
    await runBilling(organization.id);
    await recordUsage(organization.id, [{ metricCode, quantity: 30 }]);

    const now = new Date().toISOString();
    const atNow = await preview(`/v1/subscriptions/${subscription.id}/upcoming-invoice?asOf=${encodeURIComponent(now)}`);
    expect(atNow).toMatchObject({ asOf: now, billingDay: today(), total: 0, lines: [] });
    const nextDay = iso(Date.parse(subscription.currentPeriodEnd) + days(1));
    const later = await preview(`/v1/subscriptions/${subscription.id}/upcoming-invoice?asOf=${encodeURIComponent(nextDay)}`);
    expect(later).toMatchObject({ asOf: nextDay, billingDay: nextDay, total: 1_000 + 300 });
    expect((await preview(`/v1/subscriptions/${subscription.id}/upcoming-invoice`)).billingDay).toBe(subscription.currentPeriodEnd);
  });

  it('is today’s invoice while a fee is due now, and the next period’s once it is billed', async () => {
    const metricCode = await createMetric(stack, 'sum');
    const planCode = await createPlan({ basePrice: 1_000, charges: [{ metricCode, model: 'per_unit', unitPrice: '0.10' }] });
    const organization = await createOrganization();
    await cycleAsleep(organization.id);
    const subscription = await subscribe(organization.id, planCode);
    await recordUsage(organization.id, [{ metricCode, quantity: 30 }]);

    // Nothing billed yet: the first period's fee is due now; its usage waits for the period's end.
    const first = await preview(`/v1/subscriptions/${subscription.id}/upcoming-invoice`);
    expect(first.lines.map((line) => [line.type, line.amount, line.periodStart])).toEqual([['subscription', 1_000, subscription.currentPeriodStart]]);
    expect(first).toMatchObject({ billingDay: today(), total: 1_000 });

    await runBilling(organization.id);
    const second = await preview(`/v1/subscriptions/${subscription.id}/upcoming-invoice`);
    expect(second.lines.map((line) => [line.type, line.amount, line.periodStart])).toEqual([
      ['usage', 300, subscription.currentPeriodStart],
      ['subscription', 1_000, subscription.currentPeriodEnd],
    ]);
    expect(second).toMatchObject({ billingDay: subscription.currentPeriodEnd, total: 300 + 1_000 });
  });

  it('bills a subscription added after today’s invoice tomorrow (a day is invoiced once), and keeps each subscription’s own next invoice', async () => {
    const metricCode = await createMetric(stack, 'sum');
    const planCode = await createPlan({ basePrice: 1_000, charges: [{ metricCode, model: 'per_unit', unitPrice: '0.10' }] });
    const otherPlanCode = await createPlan({ basePrice: 1_000 });
    const organization = await createOrganization();
    const billed = await subscribe(organization.id, planCode);
    await runBilling(organization.id);
    const added = await subscribe(organization.id, otherPlanCode);
    await recordUsage(organization.id, [{ metricCode, quantity: 30, subscriptionId: billed.id }]);
    const tomorrow = iso(Date.parse(today()) + days(1));

    const ofAccount = await preview(`/v1/organizations/${organization.id}/upcoming-invoice`);
    expect(ofAccount.lines.map((line) => [line.type, line.subscriptionId, line.amount, line.periodStart])).toEqual([
      ['subscription', added.id, 1_000, added.currentPeriodStart],
    ]);
    expect(ofAccount.billingDay).toBe(tomorrow);
    expect(await preview(`/v1/subscriptions/${added.id}/upcoming-invoice`)).toMatchObject({ billingDay: tomorrow, total: 1_000 });
    const ofBilled = await preview(`/v1/subscriptions/${billed.id}/upcoming-invoice`);
    expect(ofBilled.lines.map((line) => [line.type, line.amount, line.periodStart])).toEqual([
      ['usage', 300, billed.currentPeriodStart],
      ['subscription', 1_000, billed.currentPeriodEnd],
    ]);
    expect(ofBilled.billingDay).toBe(billed.currentPeriodEnd);
  });

  it('carries a seat change made since the last invoice as prorations, with the next period’s seats in advance', async () => {
    const planCode = await createPlan({ basePrice: 1_000, seatPrice: 500 });
    const organization = await createOrganization();
    const subscription = await subscribe(organization.id, planCode, { seats: 2, startAt: iso(Date.now() - days(5)) });
    await runBilling(organization.id);
    const changed = await call<CreatedSubscription>(stack, 'POST', `/v1/subscriptions/${subscription.id}/seats`, { body: { seats: 4 }, expect: 200 });
    const prorations = changed.change!.prorationLines;
    expect(prorations.map((line) => Math.sign(line.amount))).toEqual([-1, 1]);

    const next = await preview(`/v1/subscriptions/${subscription.id}/upcoming-invoice`);
    expect(next.lines.map((line) => [line.type, line.amount, line.periodStart])).toEqual([
      ...prorations.map((line) => ['proration', line.amount, midnight(line.periodStart)]),
      ['subscription', 1_000, subscription.currentPeriodEnd],
      ['seat', 4 * 500, subscription.currentPeriodEnd],
    ]);
    expect(next.billingDay).toBe(subscription.currentPeriodEnd);
  });

  it('previews a parent’s consolidated invoice with its children’s usage itemized by organization and department', async () => {
    const metricCode = await createMetric(stack, 'sum');
    // Usage only: nothing is due today, so the next invoice is the one at the period's end.
    const planCode = await createPlan({ charges: [{ metricCode, model: 'per_unit', unitPrice: '0.05' }] });
    const parent = await createOrganization();
    const child = await createOrganization({ parentId: parent.id });
    const [research, sales] = await Promise.all(
      ['Research', 'Sales'].map((name) => call<{ id: string }>(stack, 'POST', `/v1/organizations/${child.id}/departments`, { body: { name: unique(name) } })),
    );
    const parentSubscription = await subscribe(parent.id, planCode);
    const childSubscription = await subscribe(child.id, planCode);
    await recordUsage(parent.id, [{ metricCode, quantity: 100 }]);
    await recordUsage(child.id, [
      { metricCode, quantity: 200, departmentId: research!.id },
      { metricCode, quantity: 100, departmentId: research!.id },
      { metricCode, quantity: 200, departmentId: sales!.id },
    ]);
    const before = await billingWrites(parent.id);

    const consolidated = await preview(`/v1/organizations/${parent.id}/upcoming-invoice`);
    // 500 units of the child at 0.05 = 25.00, split 300 : 200 between its departments.
    const childLines = [
      { metricCode, organizationId: child.id, departmentId: research!.id, quantity: '300', amount: 1_500 },
      { metricCode, organizationId: child.id, departmentId: sales!.id, quantity: '200', amount: 1_000 },
    ];
    expect(usageLines(consolidated.lines)).toEqual(inOrder([{ metricCode, organizationId: parent.id, quantity: '100', amount: 500 }, ...childLines]));
    // The parent's own line first, then its child's.
    expect(consolidated.lines.map((line) => [line.organizationId, line.subscriptionId])).toEqual([
      [parent.id, parentSubscription.id],
      [child.id, childSubscription.id],
      [child.id, childSubscription.id],
    ]);
    expect(consolidated).toMatchObject({ organizationId: parent.id, billingDay: childSubscription.currentPeriodEnd, total: 500 + 1_500 + 1_000 });

    const childShare = await preview(`/v1/organizations/${child.id}/upcoming-invoice`);
    expect(usageLines(childShare.lines)).toEqual(inOrder(childLines));
    expect(childShare).toMatchObject({ organizationId: child.id, billingDay: childSubscription.currentPeriodEnd, total: 2_500 });
    expect(await billingWrites(parent.id)).toEqual(before);
  });
});
