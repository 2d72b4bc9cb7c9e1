import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { periodContaining } from '../../src/domain/index.js';
import { ensureSchedules, ledgerflowSchedules } from '../../src/temporal/schedules.js';
import type { usageDailyProcessing } from '../../workflows/usage-daily.js';
import { createCustomer, createMetric, iso, perUnit, readUsage, sendBatch, startFor, storedUsage } from '../api/support/usage.js';
import { call } from '../api/support/world.js';
import { startTestStack, type TestStack } from '../support/stack.js';
import { eventually } from './support/subscriptions.js';

let stack: TestStack;
beforeAll(async () => {
  stack = await startTestStack();
});
afterAll(async () => {
  await stack.stop();
});

const partitions = async () =>
  (
    await stack.sql<{ name: string; bound: string }>(
      `select c.relname as name, pg_get_expr(c.relpartbound, c.oid) as bound from pg_inherits i join pg_class c on c.oid = i.inhrelid
       where i.inhparent = 'usage_events'::regclass order by c.relname`,
    )
  ).map((row) => row.name);

const monthName = (epochMs: number) => `usage_events_${iso(epochMs).slice(0, 7).replace('-', '_')}`;

/** Runs the deployment's `usage-daily` definition as a schedule of this suite's own, triggered now. */
async function triggerDailySchedule() {
  const definition = ledgerflowSchedules.find((schedule) => schedule.scheduleId === 'usage-daily');
  expect(definition).toMatchObject({ workflowType: 'usageDailyProcessing' });
  const scheduleId = `usage-daily-test-${randomUUID()}`;
  await ensureSchedules(stack.temporal, stack.taskQueue, [{ ...definition!, scheduleId }]);
  const schedule = stack.temporal.schedule.getHandle(scheduleId);
  try {
    await schedule.trigger();
    const workflowId = await eventually(async () => (await schedule.describe()).info.recentActions[0]?.action.workflow.workflowId, 30_000);
    return await stack.temporal.workflow.getHandle<typeof usageDailyProcessing>(workflowId).result();
  } finally {
    await schedule.delete();
  }
}

function runDaily(input: Parameters<typeof usageDailyProcessing>[0]) {
  return stack.temporal.workflow.execute<typeof usageDailyProcessing>('usageDailyProcessing', {
    taskQueue: stack.taskQueue,
    workflowId: `usage-daily-${randomUUID()}`,
    args: [input],
  });
}

describe('the usage-daily schedule', () => {
  it('moves events out of the default partition into monthly ones, creates the coming months, and raises missed alerts', async () => {
    const calls = await createMetric(stack, 'count');
    const startAt = startFor(5, 2);
    const acme = await createCustomer(stack, [perUnit(calls, { included: 100, allocation: 'per_seat' })], { seats: 2, startAt });
    const now = Date.now();
    const old = Date.parse(`${startAt}T08:00:00Z`);
    await sendBatch(stack, [
      ...Array.from({ length: 120 }, (_, index) => ({ eventId: `now-${index}`, metricCode: calls, organizationId: acme.organizationId })),
      { eventId: 'old', metricCode: calls, organizationId: acme.organizationId, timestamp: iso(old) },
    ]);
    expect(await partitions()).toEqual(['usage_events_default']);
    const before = await storedUsage(stack, acme.organizationId);
    const alerts = async () =>
      (await stack.sql<{ threshold: number }>('select threshold from usage_threshold_crossings where subscription_id = $1 order by threshold', [acme.subscriptionId])).map(
        (row) => row.threshold,
      );
    expect(await alerts()).toEqual([50]);

    // One seat fewer: the per-seat quota halves, so 120 units are now past 100 % without any new event.
    await call(stack, 'POST', `/v1/subscriptions/${acme.subscriptionId}/seats`, { body: { seats: 1 }, expect: 200 });

    const report = await triggerDailySchedule();
    const month = Date.UTC(new Date(now).getUTCFullYear(), new Date(now).getUTCMonth(), 1);
    const expected = [old, month, Date.UTC(new Date(now).getUTCFullYear(), new Date(now).getUTCMonth() + 1, 1), Date.UTC(new Date(now).getUTCFullYear(), new Date(now).getUTCMonth() + 2, 1)].map(monthName);
    expect(report.partitionsCreated.sort()).toEqual([...new Set(expected)].sort());
    expect(report.alertsRaised).toBe(2);
    expect(await partitions()).toEqual(['usage_events_default', ...new Set(expected)].sort());
    expect(await stack.sql('select 1 from usage_events_default')).toEqual([]);
    const [placement] = await stack.sql<{ old: string; recent: string }>(
      `select (select count(*) from ${monthName(old)} where organization_id = $1) as old, (select count(*) from ${monthName(now)} where organization_id = $1) as recent`,
      [acme.organizationId],
    );
    expect(placement).toEqual({ old: '1', recent: '120' });
    expect(await storedUsage(stack, acme.organizationId)).toEqual(before);
    expect(await alerts()).toEqual([50, 80, 100]);
    const events = await stack.sql<{ threshold: number }>(
      `select (payload->>'threshold')::int as threshold from webhook_events where organization_id = $1 and type = 'usage.threshold_reached' order by 1`,
      [acme.organizationId],
    );
    expect(events.map((event) => event.threshold)).toEqual([50, 80, 100]);

    // Events keep flowing into the new partitions; a second run has nothing to do.
    await sendBatch(stack, [{ eventId: 'after', metricCode: calls, organizationId: acme.organizationId }]);
    expect((await stack.sql<{ count: string }>(`select count(*) from ${monthName(now)} where organization_id = $1`, [acme.organizationId]))[0]?.count).toBe('121');
    expect(await triggerDailySchedule()).toMatchObject({ partitionsCreated: [], alertsRaised: 0, aggregatesRepaired: 0 });
  });

  it('re-derives the aggregates of closed periods from the raw events, repairing what differs', async () => {
    const bytes = await createMetric(stack, 'sum', 'bytes');
    const visitors = await createMetric(stack, 'unique_count', 'visitor');
    const startAt = startFor(5, 1);
    const acme = await createCustomer(stack, [perUnit(bytes), perUnit(visitors)], { startAt });
    const closed = periodContaining({ interval: 'month', anchor: startAt }, startAt);
    await sendBatch(
      stack,
      Array.from({ length: 40 }, (_, index) => ({
        eventId: `e-${index}`,
        metricCode: index % 2 ? bytes : visitors,
        organizationId: acme.organizationId,
        userId: `u${index % 3}`,
        timestamp: `${startAt}T${String(index % 24).padStart(2, '0')}:00:00Z`,
        properties: { bytes: index * 10, visitor: `v${index % 5}` },
      })),
    );
    const query = `subscriptionId=${acme.subscriptionId}&from=${closed.start}&to=${closed.end}`;
    const correct = await readUsage(stack, query);
    const stored = await storedUsage(stack, acme.organizationId);

    // Lost and doubled counts, a missing group row: what a bug or a bad manual fix could leave.
    await stack.sql(`update usage_aggregates set quantity = quantity * 2, event_count = event_count + 1 where subscription_id = $1 and scope = 'total'`, [acme.subscriptionId]);
    await stack.sql(`delete from usage_aggregates where subscription_id = $1 and scope = 'group' and user_key = 'u1'`, [acme.subscriptionId]);
    await stack.sql(`update usage_aggregates set quantity = 0 where subscription_id = $1 and scope = 'group' and user_key = 'u2'`, [acme.subscriptionId]);
    expect(await readUsage(stack, query)).not.toEqual(correct);

    const report = await runDaily({ lookbackDays: 40 });
    expect(report.periodsVerified).toBeGreaterThanOrEqual(2);
    expect(report.aggregatesRepaired).toBeGreaterThanOrEqual(6);
    expect(await readUsage(stack, query)).toEqual(correct);
    expect(await storedUsage(stack, acme.organizationId)).toEqual(stored);
    expect(await readUsage(stack, `${query}&userId=u1`)).toEqual(
      correct.map((summary) => expect.objectContaining({ metricCode: summary.metricCode, subscriptionQuantity: summary.quantity })),
    );
    expect((await runDaily({ lookbackDays: 40 })).aggregatesRepaired).toBe(0);
  });
});
