/**
 * Budgets through the real stack: usage recorded through the API crosses thresholds that fire
 * once, and purchases over a budget are refused or wait for a budget exception's approval.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { MockActivityEnvironment } from '@temporalio/testing';
import { pino } from 'pino';
import { createUsageActivities } from '../../activities/usage.js';
import { systemClock } from '../../src/clock.js';
import { startTestStack, type TestStack } from '../support/stack.js';
import { eventually } from '../workflow/support/subscriptions.js';
import { expectProblem } from './support/problems.js';
import { createCustomer, createMetric, perUnit } from './support/usage.js';
import { bearer, call, signJwt, unique } from './support/world.js';

let stack: TestStack;
beforeAll(async () => {
  stack = await startTestStack();
}, 120_000);
afterAll(async () => {
  await stack?.stop();
});

interface Tracking {
  spent: number;
  pending: number;
  forecast: number;
  status: string;
  percentUsed: string;
}

const alertsOf = (budgetId: string) => call<{ threshold: number }[]>(stack, 'GET', `/v1/budgets/${budgetId}/alerts`);
const thresholdEvents = (organizationId: string) => stack.sql<{ payload: { threshold: number } }>("select payload from webhook_events where organization_id = $1 and type = 'budget.threshold_crossed'", [organizationId]);

/** An OWNER of the organization, as a person. */
async function ownerOf(organizationId: string) {
  const userId = unique('owner');
  await call(stack, 'POST', `/v1/organizations/${organizationId}/members`, { body: { userId, role: 'OWNER' } });
  return bearer(await signJwt(userId));
}

describe('budgets through the real stack', () => {
  it('usage crossing 80 % under 20 concurrent requests fires each threshold once; the same batch replayed fires nothing new', async () => {
    const calls = await createMetric(stack, 'sum');
    const acme = await createCustomer(stack, [perUnit(calls, { unitPrice: '1' })]);
    const budget = await call<{ id: string }>(stack, 'POST', '/v1/budgets', { body: { organizationId: acme.organizationId, name: 'API calls', period: 'month', amount: 10_000, currency: 'USD' } });
    // 20 requests of 4 calls at 1.00 each: 80.00 of a 100.00 budget.
    const events = Array.from({ length: 20 }, (_, index) => ({ eventId: `call-${index}`, metricCode: calls, organizationId: acme.organizationId, quantity: 4 }));
    const answers = await Promise.all(events.map((event) => stack.request('POST', '/v1/usage', { body: event })));
    expect(answers.map((answer) => answer.status)).toEqual(events.map(() => 202));

    const fired = await eventually(async () => {
      const alerts = await alertsOf(budget.id);
      return alerts.length >= 2 ? alerts : undefined;
    });
    expect(fired.map((alert) => alert.threshold)).toEqual([50, 80]);
    const tracking = await call<Tracking>(stack, 'GET', `/v1/budgets/${budget.id}/tracking`);
    expect(tracking).toMatchObject({ spent: 0, pending: 8_000, percentUsed: '80.00', status: 'warning' });
    expect(tracking.forecast).toBeGreaterThanOrEqual(8_000);
    await eventually(async () => ((await thresholdEvents(acme.organizationId)).length === 2 ? true : undefined));

    // The same events again, as a batch: all duplicates, nothing new fires.
    const replay = await stack.request('POST', '/v1/usage/batch', { body: { events } });
    expect(await replay.json()).toEqual({ accepted: 0, duplicates: 20 });
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect((await alertsOf(budget.id)).map((alert) => alert.threshold)).toEqual([50, 80]);
    expect((await thresholdEvents(acme.organizationId)).map((event) => event.payload.threshold).sort()).toEqual([50, 80]);

    // Raising the amount fires nothing already fired; lowering it fires the threshold not fired yet.
    await call(stack, 'PATCH', `/v1/budgets/${budget.id}`, { body: { amount: 8_000 }, expect: 200 });
    const after = await eventually(async () => {
      const alerts = await alertsOf(budget.id);
      return alerts.length >= 3 ? alerts : undefined;
    });
    expect(after.map((alert) => alert.threshold)).toEqual([50, 80, 100]);
  });

  it('the daily usage processing fires what no prompt check fired (the API was down), once', async () => {
    const calls = await createMetric(stack, 'sum');
    const acme = await createCustomer(stack, [perUnit(calls, { unitPrice: '1' })]);
    await call(stack, 'POST', '/v1/usage', { body: { eventId: unique('evt'), metricCode: calls, organizationId: acme.organizationId, quantity: 60 }, expect: 202 });
    // A budget written behind the API's back: no check ran for it.
    const budgetId = randomUUID();
    await stack.sql(
      `insert into budgets (id, organization_id, name, period, amount, currency, alert_thresholds, enforcement, created_by, created_at, updated_at)
       values ($1, $2, 'Backfilled', 'month', 10000, 'USD', '[50, 80, 100]', 'none', 'test', now(), now())`,
      [budgetId, acme.organizationId],
    );
    const activities = createUsageActivities({ orm: stack.orm, clock: systemClock, logger: pino({ level: 'silent' }) });
    const environment = new MockActivityEnvironment({ taskQueue: stack.taskQueue }, { client: stack.temporal });
    expect(await environment.run(() => activities.raiseMissedBudgetAlerts())).toBeGreaterThanOrEqual(1);
    expect((await alertsOf(budgetId)).map((alert) => alert.threshold)).toEqual([50]);
    await environment.run(() => activities.raiseMissedBudgetAlerts());
    expect((await alertsOf(budgetId)).map((alert) => alert.threshold)).toEqual([50]);
  });

  it('a seat increase over a budget under approval waits, is approved, and is applied once; under block it is refused and changes nothing', async () => {
    const suffix = unique('seats');
    await call(stack, 'POST', '/v1/applications', { body: { slug: `app-${suffix}`, name: 'Seats' } });
    await call(stack, 'POST', '/v1/plans', { body: { code: `plan-${suffix}`, name: 'Per seat', applicationSlug: `app-${suffix}`, currency: 'USD', interval: 'month', basePrice: 0, seatPrice: 1_000 } });
    const { id: organizationId } = await call<{ id: string }>(stack, 'POST', '/v1/organizations', { body: { name: unique('org'), currency: 'USD' } });
    const owner = await ownerOf(organizationId);
    const subscription = await call<{ id: string; seats: number }>(stack, 'POST', '/v1/subscriptions', { body: { organizationId, planCode: `plan-${suffix}`, seats: 1 } });
    const budget = await call<{ id: string }>(stack, 'POST', '/v1/budgets', { body: { organizationId, name: 'Seats', period: 'month', amount: 1_500, currency: 'USD', enforcement: 'block' } });

    await expectProblem(await stack.request('POST', `/v1/subscriptions/${subscription.id}/seats`, { body: { seats: 5 } }), 422, 'budget_exceeded');
    expect((await call<{ seats: number }>(stack, 'GET', `/v1/subscriptions/${subscription.id}`)).seats).toBe(1);
    expect(await stack.sql("select id from approval_requests where organization_id = $1", [organizationId])).toEqual([]);

    await call(stack, 'PATCH', `/v1/budgets/${budget.id}`, { body: { enforcement: 'approval' }, expect: 200 });
    const held = await stack.request('POST', `/v1/subscriptions/${subscription.id}/seats`, { body: { seats: 5 } });
    expect(held.status).toBe(202);
    const hold = (await held.json()) as { status: string; approvalRequestId: string; addedCost: number; budgetId: string };
    expect(hold).toMatchObject({ status: 'pending_approval', budgetId: budget.id });
    expect(hold.addedCost).toBeGreaterThan(0);
    const request = await call<{ subjectType: string; status: string }>(stack, 'GET', `/v1/approval-requests/${hold.approvalRequestId}`, { authorization: owner });
    expect(request).toMatchObject({ subjectType: 'budget_exception', status: 'pending' });
    expect((await call<{ seats: number }>(stack, 'GET', `/v1/subscriptions/${subscription.id}`)).seats).toBe(1);

    await call(stack, 'POST', `/v1/approval-requests/${hold.approvalRequestId}/decisions`, { body: { decision: 'approve' }, authorization: owner, expect: 200 });
    const executed = await eventually(async () => {
      const view = await call<{ execution: { status: string } | null }>(stack, 'GET', `/v1/approval-requests/${hold.approvalRequestId}`, { authorization: owner });
      return view.execution ? view : undefined;
    }, 20_000);
    expect(executed.execution).toMatchObject({ status: 'executed' });
    expect((await call<{ seats: number }>(stack, 'GET', `/v1/subscriptions/${subscription.id}`)).seats).toBe(5);
    const phases = await stack.sql<{ seats: number }>('select seats from subscription_phases where subscription_id = $1 and seats = 5', [subscription.id]);
    expect(phases).toHaveLength(1);
  });

  it('a rejected budget exception makes nothing', async () => {
    const suffix = unique('rejected');
    await call(stack, 'POST', '/v1/applications', { body: { slug: `app-${suffix}`, name: 'Seats' } });
    await call(stack, 'POST', '/v1/plans', { body: { code: `plan-${suffix}`, name: 'Per seat', applicationSlug: `app-${suffix}`, currency: 'USD', interval: 'month', basePrice: 0, seatPrice: 1_000 } });
    const { id: organizationId } = await call<{ id: string }>(stack, 'POST', '/v1/organizations', { body: { name: unique('org'), currency: 'USD' } });
    const owner = await ownerOf(organizationId);
    await call(stack, 'POST', '/v1/budgets', { body: { organizationId, name: 'Everything', period: 'month', amount: 500, currency: 'USD', enforcement: 'approval' } });
    const held = await stack.request('POST', '/v1/subscriptions', { body: { organizationId, planCode: `plan-${suffix}`, seats: 2 } });
    expect(held.status).toBe(202);
    const hold = (await held.json()) as { approvalRequestId: string };
    await call(stack, 'POST', `/v1/approval-requests/${hold.approvalRequestId}/decisions`, { body: { decision: 'reject' }, authorization: owner, expect: 200 });
    await eventually(async () => ((await stack.sql<{ status: string }>('select status from approval_requests where id = $1', [hold.approvalRequestId]))[0]?.status === 'rejected' ? true : undefined));
    expect(await stack.sql('select id from subscriptions where organization_id = $1', [organizationId])).toEqual([]);
  });

  it('splits a subscription’s charges across departments by its cost allocation, exactly', async () => {
    const calls = await createMetric(stack, 'sum');
    const acme = await createCustomer(stack, [perUnit(calls, { unitPrice: '1' })]);
    const second = await call<{ id: string }>(stack, 'POST', `/v1/organizations/${acme.organizationId}/departments`, { body: { name: unique('dept') } });
    const third = await call<{ id: string }>(stack, 'POST', `/v1/organizations/${acme.organizationId}/departments`, { body: { name: unique('dept') } });
    const allocations = [
      { departmentId: acme.departmentId, percent: '33.33' },
      { departmentId: second.id, percent: '33.33' },
      { departmentId: third.id, percent: '33.34' },
    ];
    const put = await call<{ effectiveFrom: string }>(stack, 'PUT', `/v1/subscriptions/${acme.subscriptionId}/cost-allocations`, { body: { allocations }, expect: 200 });
    expect(put.effectiveFrom).toMatch(/^\d{4}-\d{2}-\d{2}$/);
    await expectProblem(await stack.request('PUT', `/v1/subscriptions/${acme.subscriptionId}/cost-allocations`, { body: { allocations: allocations.slice(0, 2) } }), 422, 'invalid_allocation');
    await call(stack, 'POST', '/v1/usage', { body: { eventId: unique('evt'), metricCode: calls, organizationId: acme.organizationId, quantity: 7 }, expect: 202 });
    const preview = await call<{ lines: { type: string; amount: number; departmentId: string | null }[] }>(stack, 'GET', `/v1/organizations/${acme.organizationId}/upcoming-invoice`);
    const usage = preview.lines.filter((line) => line.type === 'usage');
    expect(usage.map((line) => line.amount).reduce((sum, amount) => sum + amount, 0)).toBe(700);
    expect(new Set(usage.map((line) => line.departmentId))).toEqual(new Set(allocations.map((allocation) => allocation.departmentId)));
    // GET /v1/usage shows each department its share of the usage recorded without one: 7 × 33.34 %.
    const byDepartment = await call<{ data: { metricCode: string; quantity: string; subscriptionQuantity: string }[] }>(stack, 'GET', `/v1/usage?subscriptionId=${acme.subscriptionId}&departmentId=${third.id}`);
    expect(byDepartment.data.find((summary) => summary.metricCode === calls)).toMatchObject({ quantity: '2.3338', subscriptionQuantity: '7' });
  });
});
