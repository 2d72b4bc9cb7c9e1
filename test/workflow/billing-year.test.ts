import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Context } from '@temporalio/activity';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import { pino } from 'pino';
import { createActivities } from '../../activities/index.js';
import type { Clock } from '../../src/clock.js';
import { createOrm, migrateUp, type Orm } from '../../src/db/orm.js';
import { writeUsage } from '../../src/db/repositories/usage.js';
import { ensureUsagePartitions } from '../../src/db/repositories/usage-maintenance.js';
import {
  MS_PER_DAY,
  computeInvoice,
  dayOf,
  formatDay,
  initialSnapshot,
  parseDay,
  usageWindows,
  type InvoiceProposal,
  type Plan,
  type Subscription,
  type UsageAggregate,
} from '../../src/domain/index.js';
import { createStripeClient } from '../../src/integrations/stripe.js';
import { workflowIds } from '../../src/temporal/workflow-ids.js';
import { changePlanUpdate, changeSeatsUpdate, subscriptionStateQuery } from '../../workflows/messages/subscription.js';
import type { subscriptionLifecycle } from '../../workflows/subscription-lifecycle.js';
import { sharedServer } from '../support/servers.js';
import { createSuiteDatabase, type SuiteDatabase } from '../support/stack.js';
import { paymentIntentCreation, paymentIntentsDecline, paymentIntentsSucceed, startStripeFaultProxy, type StripeFaultProxy } from '../support/stripe-fault-proxy.js';
import { eventually, seedCatalog, type SeededCatalog } from './support/subscriptions.js';

const testServer = fileURLToPath(new URL('../../.tools/bin/temporal-test-server', import.meta.url));
const taskQueue = 'billing-year';
const HOUR = 3_600_000;

/**
 * Activities read the test server's clock where it is known: an attempt the server scheduled (the
 * Stripe charge, the subscription's writes) carries its skipped time. Local activities carry the
 * worker's; what they decide by day (the billing day) comes from the workflow.
 */
const testServerClock: Clock = {
  now: () => {
    try {
      return new Date(Context.current().info.currentAttemptScheduledTimestampMs);
    } catch {
      return new Date();
    }
  },
};

let env: TestWorkflowEnvironment;
let database: SuiteDatabase;
let orm: Orm;
let proxy: StripeFaultProxy;
let worker: Worker;
let workerRun: Promise<void>;
let catalog: SeededCatalog;
let metric: { id: string; code: string };
/** Invoices in the order Stripe first saw them; the fifth one's first charge is declined. */
const chargedInvoices: string[] = [];
const declinedInvoicePosition = 4;

beforeAll(async () => {
  Runtime.install({ logger: new DefaultLogger('ERROR') });
  proxy = await startStripeFaultProxy(sharedServer('stripeApiUrl'));
  proxy.rewrite(paymentIntentCreation, paymentIntentsSucceed);
  proxy.rewrite(paymentIntentCreation, (response, request) => {
    const invoiceId = request.params.get('metadata[invoiceId]') ?? '';
    if (!chargedInvoices.includes(invoiceId)) chargedInvoices.push(invoiceId);
    const firstAttempt = request.params.get('metadata[attempt]') === '1';
    return chargedInvoices.indexOf(invoiceId) === declinedInvoicePosition && firstAttempt ? paymentIntentsDecline('insufficient_funds')(response, request) : undefined;
  });
  env = await TestWorkflowEnvironment.createTimeSkipping({ server: { executable: { type: 'existing-path', path: testServer } } });
  database = await createSuiteDatabase();
  orm = await createOrm(database.url, 4);
  await migrateUp(orm);
  catalog = await seedCatalog(orm);
  metric = { id: randomUUID(), code: `calls-${randomUUID().slice(0, 8)}` };
  const em = orm.em.fork();
  await em.execute(`insert into metrics (id, code, name, aggregation, created_at) values (?, ?, 'API calls', 'count', now())`, [metric.id, metric.code]);
  for (const [plan, unitPrice, included] of [
    [catalog.basic, '0.37', 10],
    [catalog.pro, '0.215', 40],
  ] as const) {
    await em.execute(
      `insert into plan_charges (id, plan_id, position, metric_id, model, unit_price, included, allocation)
       values (?, ?, 0, ?, 'per_unit', ?, ?, 'pooled')`,
      [randomUUID(), plan.id, metric.id, unitPrice, included],
    );
  }
  await em.execute(`update organizations set stripe_customer_id = ?, stripe_default_payment_method_id = 'pm_card_visa' where id = ?`, [
    `cus_${catalog.organizationId.slice(0, 8)}`,
    catalog.organizationId,
  ]);
  const stripe = createStripeClient({ STRIPE_SECRET_KEY: 'sk_test_ledgerflow', STRIPE_API_URL: proxy.url });
  worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue,
    workflowBundle: { codePath: sharedServer('workflowBundle') },
    activities: createActivities({ orm, stripe, clock: testServerClock, logger: pino({ level: 'silent' }) }),
  });
  workerRun = worker.run();
}, 120_000);

afterAll(async () => {
  worker?.shutdown();
  await workerRun;
  await env?.teardown();
  await orm?.close();
  await database?.drop();
  await proxy?.stop();
});

async function sleepUntil(targetMs: number) {
  const now = await env.currentTimeMs();
  if (targetMs > now) await env.sleep(targetMs - now);
}

const at = (day: string, hours = 0) => parseDay(day) * MS_PER_DAY + hours * HOUR;

interface StoredInvoice {
  id: string;
  billing_date: string;
  number: string;
  status: string;
  total: string;
  amount_due: string;
  amount_paid: string;
}

async function invoiceOn(day: string): Promise<StoredInvoice | undefined> {
  const [invoice] = await orm.em.fork().execute<StoredInvoice[]>(
    `select id, to_char(billing_date at time zone 'UTC', 'YYYY-MM-DD') as billing_date, number, status, total, amount_due, amount_paid
       from invoices where organization_id = ? and billing_date = ?`,
    [catalog.organizationId, `${day}T00:00:00Z`],
  );
  return invoice;
}

const paid = (day: string) => eventually(async () => ((await invoiceOn(day))?.status === 'paid' ? invoiceOn(day) : undefined), 60_000);

interface StoredLine {
  key: string;
  type: string;
  amount: string;
  quantity: string;
  period_start: string;
  period_end: string;
}

async function linesOf(invoiceId: string) {
  const rows = await orm.em.fork().execute<StoredLine[]>(
    `select key, type, amount, quantity, to_char(period_start at time zone 'UTC', 'YYYY-MM-DD') as period_start,
            to_char(period_end at time zone 'UTC', 'YYYY-MM-DD') as period_end
       from invoice_lines where invoice_id = ? order by position`,
    [invoiceId],
  );
  return rows.map((row) => ({ key: row.key, type: row.type, amount: Number(row.amount), quantity: row.quantity, periodStart: row.period_start, periodEnd: row.period_end }));
}

/** Records `count` usage events of the year's metric at `occurredAtMs`, in the subscription's period `[periodStart, periodEnd)`. */
async function recordUsage(subscriptionId: string, period: { periodStart: string; periodEnd: string }, occurredAtMs: number, count: number) {
  const occurredAt = new Date(occurredAtMs).toISOString();
  const rows = Array.from({ length: count }, () => ({
    organizationId: catalog.organizationId,
    eventId: randomUUID(),
    occurredAt,
    subscriptionId,
    metricId: metric.id,
    aggregation: 'count' as const,
    periodStart: `${period.periodStart}T00:00:00.000Z`,
    periodEnd: `${period.periodEnd}T00:00:00.000Z`,
    userId: null,
    departmentId: null,
    quantity: '1',
    value: '1',
    distinctKey: null,
    properties: null,
  }));
  await orm.em.fork().transactional((em) => writeUsage(em, rows, new Date(occurredAtMs)));
}

const domainPlan = (plan: SeededCatalog['basic'], unitPrice: string, included: number): Plan => ({
  code: plan.code,
  name: plan.name,
  currency: plan.currency,
  interval: plan.interval,
  basePrice: plan.basePrice,
  seatPrice: plan.seatPrice,
  includedSeats: plan.includedSeats,
  trialDays: plan.trialDays,
  charges: [{ metricCode: metric.code, model: 'per_unit', unitPrice, included, allocation: 'pooled' }],
});

describe('a year of monthly billing through the workflows', () => {
  it('bills an upgrade, a seat change, usage and a failed-then-recovered payment as the domain engine predicts', async () => {
    const startDay = formatDay(dayOf(await env.currentTimeMs()));
    const subscriptionId = randomUUID();
    const snapshot = initialSnapshot(
      { id: subscriptionId, organizationId: catalog.organizationId, departmentId: null, plan: catalog.basic, seats: 3, startDate: startDay, trialDays: 0, billingAnchorDay: null },
      parseDay(startDay),
    );
    const subscription = env.client.workflow.getHandle<typeof subscriptionLifecycle>(workflowIds.subscription(subscriptionId));
    await env.client.workflow.start<typeof subscriptionLifecycle>('subscriptionLifecycle', {
      workflowId: workflowIds.subscription(subscriptionId),
      taskQueue,
      args: [{ snapshot }],
    });
    await eventually(async () => ((await orm.em.fork().execute('select 1 from subscriptions where id = ?', [subscriptionId])).length ? true : undefined), 30_000);

    // The periods as the domain sees them: monthly from the start day.
    const basic = domainPlan(catalog.basic, '0.37', 10);
    const pro = domainPlan(catalog.pro, '0.215', 40);
    const predicted: Subscription = { id: subscriptionId, organizationId: catalog.organizationId, startDate: startDay, trialEndDate: startDay, phases: [{ effectiveAt: startDay, plan: basic, seats: 3 }] };
    const periods = usageWindows(predicted, formatDay(parseDay(startDay) + 400)).slice(0, 12);
    const billingDays = [startDay, ...periods.map((period) => period.periodEnd)];
    await ensureUsagePartitions(orm.em.fork(), new Date(at(startDay)), 14);

    await env.client.workflow.start('billingCycle', { workflowId: workflowIds.billing(catalog.organizationId), taskQueue, args: [{ organizationId: catalog.organizationId }] });

    const usage: UsageAggregate[] = [];
    for (const [month, billingDay] of billingDays.entries()) {
      await sleepUntil(at(billingDay, 1));
      if (month === declinedInvoicePosition) {
        // The first charge is declined: the invoice stays open and the subscription goes past due…
        await eventually(async () => ((await subscription.query(subscriptionStateQuery)).status === 'past_due' ? true : undefined), 60_000);
        expect((await invoiceOn(billingDay))?.status).toBe('open');
        // …until the dunning retry three days later succeeds.
        await sleepUntil(at(billingDay, 3 * 24 + 2));
        await eventually(async () => ((await subscription.query(subscriptionStateQuery)).status === 'active' ? true : undefined), 60_000);
      }
      expect(await paid(billingDay)).toMatchObject({ billing_date: billingDay });
      const period = periods[month];
      if (!period) break;

      const calls = 25 + 17 * month;
      await sleepUntil(at(billingDay, 5 * 24 + 2));
      await recordUsage(subscriptionId, period, at(billingDay, 5 * 24 + 2), calls);
      usage.push({ subscriptionId, metricCode: metric.code, periodStart: period.periodStart, periodEnd: period.periodEnd, units: calls, events: calls });

      if (month === 2) {
        await sleepUntil(at(billingDay, 10 * 24 + 3));
        const upgrade = await subscription.executeUpdate(changePlanUpdate, { args: [{ plan: catalog.pro }] });
        expect(upgrade.effectiveAt).toBe(formatDay(parseDay(billingDay) + 10));
        predicted.phases.push({ effectiveAt: upgrade.effectiveAt, plan: pro, seats: 3 });
      }
      if (month === 5) {
        await sleepUntil(at(billingDay, 7 * 24 + 3));
        const seatChange = await subscription.executeUpdate(changeSeatsUpdate, { args: [{ seats: 5 }] });
        expect(seatChange.effectiveAt).toBe(formatDay(parseDay(billingDay) + 7));
        predicted.phases.push({ effectiveAt: seatChange.effectiveAt, plan: pro, seats: 5 });
      }
    }

    // What the domain engine proposes for each billing day, from the history above alone.
    const proposals: InvoiceProposal[] = [];
    for (const targetDate of billingDays) {
      proposals.push(
        computeInvoice({
          account: { organizationId: catalog.organizationId, currency: 'USD', creditBalance: 0 },
          organizations: [{ id: catalog.organizationId, parentId: null, taxRatePercent: '0' }],
          subscriptions: [predicted],
          usage: usage.filter((aggregate) => aggregate.periodEnd <= targetDate),
          priorInvoices: proposals.map((proposal) => ({ lines: proposal.lines })),
          targetDate,
        }),
      );
    }
    expect(proposals.some((proposal) => proposal.lines.some((line) => line.type === 'proration'))).toBe(true);

    const stored = await orm.em.fork().execute<StoredInvoice[]>(
      `select id, to_char(billing_date at time zone 'UTC', 'YYYY-MM-DD') as billing_date, number, status, total, amount_due, amount_paid
         from invoices where organization_id = ? order by billing_date`,
      [catalog.organizationId],
    );
    expect(stored.map((invoice) => invoice.billing_date)).toEqual(billingDays);
    for (const [index, invoice] of stored.entries()) {
      const proposal = proposals[index]!;
      expect(await linesOf(invoice.id)).toEqual(
        proposal.lines.map((line) => ({ key: line.key, type: line.type, amount: line.amount, quantity: line.quantity, periodStart: line.periodStart, periodEnd: line.periodEnd })),
      );
      expect({ total: Number(invoice.total), amountDue: Number(invoice.amount_due), amountPaid: Number(invoice.amount_paid), status: invoice.status }).toEqual({
        total: proposal.total,
        amountDue: proposal.amountDue,
        amountPaid: proposal.amountDue,
        status: 'paid',
      });
    }
    expect(stored.map((invoice) => Number(invoice.number.split('-').at(-1)))).toEqual(billingDays.map((_, index) => index + 1));

    // Each attempt charged once: one PaymentIntent per idempotency key; the declined invoice needed two.
    const creations = proxy.paymentIntentCreations();
    expect(Object.values(creations).every((count) => count === 1)).toBe(true);
    expect(Object.keys(creations).filter((key) => key.startsWith(`invoice:${stored[declinedInvoicePosition]!.id}:`))).toHaveLength(2);
    expect(Object.keys(creations)).toHaveLength(billingDays.length + 1);

    const [journal] = await orm.em.fork().execute<{ debits: string; credits: string }[]>(
      `select coalesce(sum(debit), 0) as debits, coalesce(sum(credit), 0) as credits from journal_lines`,
    );
    expect(journal!.debits).toBe(journal!.credits);
    expect(Number(journal!.debits)).toBeGreaterThan(0);
  }, 600_000);
});
