import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { WorkflowUpdateFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import { pino } from 'pino';
import { createSubscriptionActivities } from '../../activities/subscriptions.js';
import { createWebhookActivities } from '../../activities/webhooks.js';
import { systemClock } from '../../src/clock.js';
import { createOrm, migrateUp, type Orm } from '../../src/db/orm.js';
import { MS_PER_DAY, dayOf, formatDay, initialSnapshot, instantOfDay, parseDay, periodOn, prorateChange } from '../../src/domain/index.js';
import { workflowIds } from '../../src/temporal/workflow-ids.js';
import {
  cancelUpdate,
  changePlanUpdate,
  changeSeatsUpdate,
  pastDueSignal,
  paymentRecoveredSignal,
  type PlanTerms,
  subscriptionStateQuery,
} from '../../workflows/messages/subscription.js';
import type { subscriptionLifecycle } from '../../workflows/subscription-lifecycle.js';
import { createSuiteDatabase, type SuiteDatabase } from '../support/stack.js';
import { sharedServer } from '../support/servers.js';
import { eventually, recordHistory, seedCatalog, type SeededCatalog } from './support/subscriptions.js';

const testServer = fileURLToPath(new URL('../../.tools/bin/temporal-test-server', import.meta.url));
const taskQueue = 'subscription-lifecycle';

let env: TestWorkflowEnvironment;
let database: SuiteDatabase;
let orm: Orm;
let worker: Worker;
let workerRun: Promise<void>;
let catalog: SeededCatalog;

beforeAll(async () => {
  Runtime.install({ logger: new DefaultLogger('ERROR') });
  env = await TestWorkflowEnvironment.createTimeSkipping({ server: { executable: { type: 'existing-path', path: testServer } } });
  database = await createSuiteDatabase();
  orm = await createOrm(database.url, 4);
  await migrateUp(orm);
  catalog = await seedCatalog(orm);
  worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue,
    workflowBundle: { codePath: sharedServer('workflowBundle') },
    // The webhook activities too: persisting a subscription starts `subscription.updated` deliveries.
    activities: {
      ...createSubscriptionActivities({ orm, clock: systemClock, logger: pino({ level: 'silent' }) }),
      ...createWebhookActivities({ orm, clock: systemClock, logger: pino({ level: 'silent' }) }),
    },
  });
  workerRun = worker.run();
}, 120_000);

afterAll(async () => {
  worker?.shutdown();
  await workerRun;
  await env?.teardown();
  await orm?.close();
  await database?.drop();
});

interface MirrorRow {
  status: string;
  seats: number;
  plan_id: string;
  current_period_start: string;
  canceled_at: string | null;
  version: number;
}

const iso = (column: string) => `to_char(${column} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') as ${column}`;

async function mirror(id: string): Promise<MirrorRow> {
  const [row] = await orm.em
    .fork()
    .execute<MirrorRow[]>(`select status, seats, plan_id, version, ${iso('current_period_start')}, ${iso('canceled_at')} from subscriptions where id = ?`, [id]);
  if (!row) throw new Error(`no mirror row for ${id}`);
  return row;
}

/** Starts `subscription:<id>` on today's billing day of the test server's clock. */
async function startSubscription(plan: PlanTerms, options: { trialDays?: number; seats?: number } = {}) {
  const now = await env.currentTimeMs();
  const id = randomUUID();
  const snapshot = initialSnapshot(
    {
      id,
      organizationId: catalog.organizationId,
      departmentId: null,
      plan,
      seats: options.seats ?? 3,
      startDate: formatDay(dayOf(now)),
      trialDays: options.trialDays ?? plan.trialDays,
      billingAnchorDay: null,
    },
    dayOf(now),
  );
  const handle = await env.client.workflow.start<typeof subscriptionLifecycle>('subscriptionLifecycle', {
    workflowId: workflowIds.subscription(id),
    taskQueue,
    args: [{ snapshot }],
  });
  return { id, handle, snapshot, startedAt: now };
}

const latest = (id: string) => env.client.workflow.getHandle<typeof subscriptionLifecycle>(workflowIds.subscription(id));

/** Sleeps the test server's clock until `targetMs` (UTC epoch milliseconds). */
async function sleepUntil(targetMs: number) {
  const now = await env.currentTimeMs();
  if (targetMs > now) await env.sleep(targetMs - now);
}

describe('subscriptionLifecycle in the time-skipping environment', () => {
  it('ends a 14-day trial and becomes active, mirrored in PostgreSQL', async () => {
    const { id, handle, snapshot } = await startSubscription(catalog.basic);
    expect(snapshot.status).toBe('trialing');
    await sleepUntil(parseDay(snapshot.startDate) * MS_PER_DAY + 13 * MS_PER_DAY + 3_600_000);
    expect((await latest(id).query(subscriptionStateQuery)).status).toBe('trialing');
    expect((await mirror(id)).status).toBe('trialing');
    await sleepUntil(parseDay(snapshot.trialEnd) * MS_PER_DAY + 60_000);
    expect((await latest(id).query(subscriptionStateQuery)).status).toBe('active');
    expect((await mirror(id)).status).toBe('active');
    await recordHistory('trial-to-active', handle);
    await handle.terminate('test over');
  });

  it('passes twelve monthly periods with one continue-as-new each', async () => {
    const { id, handle, snapshot } = await startSubscription(catalog.pro);
    const calendar = { startDate: snapshot.startDate, billingAnchorDay: null, interval: 'month' as const };
    let period = periodOn(calendar, parseDay(snapshot.startDate));
    for (let index = 0; index < 12; index += 1) period = periodOn(calendar, parseDay(period.end));
    await sleepUntil(parseDay(period.start) * MS_PER_DAY + 3_600_000);
    const state = await latest(id).query(subscriptionStateQuery);
    expect(state).toMatchObject({ run: 13, status: 'active', currentPeriodStart: period.start, currentPeriodEnd: period.end });
    expect((await mirror(id)).current_period_start).toBe(instantOfDay(period.start));
    expect((await env.client.workflow.getHandle(handle.workflowId, handle.firstExecutionRunId).describe()).status.name).toBe('CONTINUED_AS_NEW');
    await recordHistory('twelve-periods-first-run', handle, handle.firstExecutionRunId);
    await latest(id).terminate('test over');
  });

  it('cancels at period end exactly when the period ends', async () => {
    const { id, handle, snapshot } = await startSubscription(catalog.pro);
    const result = await handle.executeUpdate(cancelUpdate, { args: [{ at: 'period_end' }] });
    expect(result.state).toMatchObject({ status: 'active', cancelAt: snapshot.currentPeriodEnd, canceledAt: null });
    const periodEndMs = parseDay(snapshot.currentPeriodEnd) * MS_PER_DAY;
    await sleepUntil(periodEndMs - 60_000);
    expect((await latest(id).query(subscriptionStateQuery)).status).toBe('active');
    expect((await mirror(id)).status).toBe('active');
    await sleepUntil(periodEndMs + 60_000);
    const final = await handle.result();
    expect(final).toMatchObject({ status: 'canceled', canceledAt: new Date(periodEndMs).toISOString(), run: 1 });
    expect(await mirror(id)).toMatchObject({ status: 'canceled', canceled_at: new Date(periodEndMs).toISOString() });
    await recordHistory('cancel-at-period-end', handle);
  });

  it('upgrades mid-period now, with the domain credit and debit lines, and persists the new plan', async () => {
    const { id, handle, snapshot } = await startSubscription(catalog.basic, { trialDays: 0, seats: 4 });
    const changeDay = parseDay(snapshot.currentPeriodStart) + 10;
    await sleepUntil(changeDay * MS_PER_DAY + 3_600_000);
    const result = await latest(id).executeUpdate(changePlanUpdate, { args: [{ plan: catalog.pro }] });
    const period = { periodStart: snapshot.currentPeriodStart, periodEnd: snapshot.currentPeriodEnd, effectiveDate: formatDay(changeDay) };
    const base = prorateChange({ ...period, oldAmount: 1_000, newAmount: 3_000 });
    const seats = prorateChange({ ...period, oldAmount: 4 * 500, newAmount: 4 * 1_000 });
    expect(result.effectiveAt).toBe(formatDay(changeDay));
    expect(result.prorationLines.map((line) => [line.type, line.key.split(':').slice(-2).join(':'), line.amount])).toEqual([
      ['proration', 'base:credit', base.credit],
      ['proration', 'base:debit', base.debit],
      ['proration', 'seat:credit', seats.credit],
      ['proration', 'seat:debit', seats.debit],
    ]);
    expect(base.credit).toBeLessThan(0);
    expect((await mirror(id)).plan_id).toBe(catalog.pro.id);
    const [phase] = await orm.em
      .fork()
      .execute<{ kind: string; proration_lines: unknown[] }[]>('select kind, proration_lines from subscription_phases where subscription_id = ? and sequence = 1', [id]);
    expect(phase).toEqual({ kind: 'plan_change', proration_lines: result.prorationLines });
    await recordHistory('upgrade-mid-period', handle);
    await handle.terminate('test over');
  });

  it('handles a payment signal during a month-long wait at once', async () => {
    const { id, handle } = await startSubscription(catalog.pro);
    await env.sleep('3 days');
    const before = await env.currentTimeMs();
    await handle.signal(pastDueSignal, { since: new Date(before).toISOString() });
    const pastDue = await eventually(async () => {
      const row = await mirror(id);
      return row.status === 'past_due' ? row : undefined;
    });
    expect(pastDue.version).toBeGreaterThan(1);
    // The mirror is written before the workflow takes the activity's result, so its state may lag the row briefly.
    await eventually(async () => ((await latest(id).query(subscriptionStateQuery)).status === 'past_due' ? true : undefined));
    // Handled at once: the server's clock has not had to reach the period end for it.
    expect((await env.currentTimeMs()) - before).toBeLessThan(60_000);
    await handle.signal(paymentRecoveredSignal);
    await eventually(async () => ((await mirror(id)).status === 'active' ? true : undefined));
    const recovered = await eventually(async () => {
      const state = await latest(id).query(subscriptionStateQuery);
      return state.status === 'active' ? state : undefined;
    });
    expect(recovered.pastDueSince).toBeNull();
    await recordHistory('past-due-signal', handle);
    await handle.terminate('test over');
  });

  it('refuses a seat reduction below the assigned seats, naming the seats to unassign, and changes nothing', async () => {
    const { id, handle } = await startSubscription(catalog.pro, { seats: 3 });
    await env.sleep('1 hour');
    const em = orm.em.fork();
    for (const user of ['ann', 'bob', 'cyd']) {
      await em.execute(`insert into seat_assignments (id, subscription_id, user_id, assigned_by, assigned_at) values (?, ?, ?, 'test', now())`, [randomUUID(), id, user]);
    }
    const refusal = await handle.executeUpdate(changeSeatsUpdate, { args: [{ seats: 1 }] }).catch((error: unknown) => error);
    expect(refusal).toBeInstanceOf(WorkflowUpdateFailedError);
    const cause = (refusal as WorkflowUpdateFailedError).cause;
    expect(cause).toBeInstanceOf(ApplicationFailure);
    expect((cause as ApplicationFailure).type).toBe('SubscriptionConflict');
    const [details] = (cause as ApplicationFailure).details as [{ code: string; seatsToUnassign: { userId: string }[] }];
    expect(details.code).toBe('seats_assigned');
    expect(details.seatsToUnassign.map((seat) => seat.userId).sort()).toHaveLength(2);
    expect((await mirror(id)).seats).toBe(3);
    expect((await handle.query(subscriptionStateQuery)).phases).toHaveLength(1);
    const accepted = await handle.executeUpdate(changeSeatsUpdate, { args: [{ seats: 5 }] });
    expect(accepted.state.phases.map((phase) => phase.seats)).toEqual([3, 5]);
    expect((await mirror(id)).seats).toBe(5);
    await recordHistory('seat-change-refused', handle);
    await handle.terminate('test over');
  });
});
