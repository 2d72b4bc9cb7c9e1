/**
 * Budget tracking on an organization with millions of usage events. An embedded PostgreSQL holds
 * two organizations on the same metered plan: one whose current period has EVENTS raw usage events
 * (spread over 1,000 users and 10 departments, written with SQL in bulk, with the aggregates
 * ingestion keeps) and one with none, each with its first period invoiced. Measures what `GET /v1/budgets/{id}/tracking` does — the
 * spent query, the next invoice's preview from the aggregates, the domain's tracking — for each,
 * and prints p50/p99 and the ratio of the big organization's to the empty one's.
 *
 *   node --import tsx bench/budget-tracking.bench.ts [events, default 10000000]
 *
 * Target: tracking answers within the API's ordinary latency (p99 ≤ 100 ms) whatever the number
 * of events, since it reads the aggregates, never the raw events.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Client } from '@temporalio/client';
import { startEmbeddedPostgres } from '../scripts/lib/embedded-postgres.js';
import { freePort } from '../scripts/lib/ports.js';
import { trackingOf } from '../src/budgets/tracking.js';
import { systemClock } from '../src/clock.js';
import { Application, Budget, Metric, Organization, Plan, PlanCharge } from '../src/db/entities/index.js';
import { createOrm, migrateUp } from '../src/db/orm.js';
import { computeInvoice, formatDay, formatDayOf, parseDay } from '../src/domain/index.js';
import { loadBillingAccount } from '../src/db/repositories/billing.js';
import { persistProposal } from '../src/db/repositories/invoices.js';
import { createSubscription } from '../src/subscriptions/create.js';
import { percentile } from './support/measure.js';

const EVENTS = Number(process.argv[2] ?? 10_000_000);
const SAMPLES = 200;
const TARGET_P99_MS = 100;

const dataDir = mkdtempSync(join(tmpdir(), 'ledgerflow-budget-bench-'));
const postgres = await startEmbeddedPostgres({ dataDir, port: await freePort(), persistent: false });
await postgres.createDatabase('bench');
const orm = await createOrm(postgres.urlFor('bench'), 4);
await migrateUp(orm);

/** Subscriptions are written as the API writes them; no workflow runs here, so none is started. */
const noTemporal = { workflow: { start: () => Promise.resolve() } } as unknown as Client;

const em = orm.em.fork();
const application = em.create(Application, { id: crypto.randomUUID(), slug: 'bench', name: 'Bench' });
const metric = em.create(Metric, { id: crypto.randomUUID(), code: 'api_calls', name: 'API calls', aggregation: 'sum', field: null });
const plan = em.create(Plan, { id: crypto.randomUUID(), code: 'metered', version: 1, name: 'Metered', application, currency: 'USD', interval: 'month', basePrice: 10_000, seatPrice: 0, includedSeats: 0, trialDays: 0 });
em.create(PlanCharge, { id: crypto.randomUUID(), plan, position: 0, metric, model: 'per_unit', unitPrice: '0.001', packageSize: null, tiers: null, rate: null, fixedFee: null, included: 0, allocation: 'pooled', hardLimit: null });
const organizations = ['Big', 'Empty'].map((name) => em.create(Organization, { id: crypto.randomUUID(), name, currency: 'USD' }));
await em.flush();
// Subscribed on the 1st (billed from the month's start, so its period and the monthly budget's coincide):
// the usage so far is what the next invoice rates. Run on the 1st, the period has just begun and has none yet.
const monthStart = parseDay(`${formatDayOf(Date.now()).slice(0, 8)}01`);
const terms = { id: plan.id, code: plan.code, name: plan.name, version: 1, applicationId: application.id, currency: 'USD', interval: 'month' as const, basePrice: 10_000, seatPrice: 0, includedSeats: 0, trialDays: 0 };
const subscriptions = [];
for (const organization of organizations) {
  subscriptions.push(await createSubscription(em, { temporal: noTemporal, taskQueue: 'none', clock: systemClock }, { organization, plan: terms, seats: 1, departmentId: null, startDay: monthStart, trialDays: 0 }));
}
// The first period is invoiced as the billing cycle would have, so the next invoice is the period's end, with its usage.
for (const organization of organizations) {
  const billingDay = formatDay(monthStart);
  const loaded = await loadBillingAccount(em, organization.id, billingDay);
  await persistProposal(em, { account: loaded!.organization, billingDay, proposal: computeInvoice(loaded!.input), now: new Date() });
}
const budgets = organizations.map((organization) =>
  em.create(Budget, { id: crypto.randomUUID(), organization, department: null, name: 'Bench', period: 'month', amount: 1_000_000_000, currency: 'USD', alertThresholds: [50, 80, 100], enforcement: 'none', createdBy: 'bench', createdAt: new Date(), updatedAt: new Date() }),
);
await em.flush();

const big = subscriptions[0]!;
const seeded = performance.now();
const client = orm.em.getConnection();
// The raw events, in bulk: what ingestion would have stored for EVENTS calls today.
await client.execute(
  `insert into usage_events (organization_id, event_id, occurred_at, received_at, subscription_id, metric_id, period_start, user_id, department_id, quantity, value)
   select ?, 'evt-' || n, now() - (n % 86400) * interval '1 second', now(), ?, ?, ?, 'user-' || (n % 1000), null, 1, 1
     from generate_series(1, ?) as n`,
  [big.organization.id, big.id, metric.id, big.currentPeriodStart, EVENTS],
);
// And the running aggregates ingestion keeps beside them: the total and one group per user.
await client.execute(
  `insert into usage_aggregates (id, organization_id, subscription_id, metric_id, aggregation, period_start, period_end, scope, user_key, department_key, quantity, event_count, updated_at)
   select gen_random_uuid(), ?, ?, ?, 'sum', ?, ?, scope, user_key, '', sum(quantity), count(*), now()
     from (select 'total' as scope, '' as user_key, quantity from usage_events where subscription_id = ?
           union all select 'group', user_id, quantity from usage_events where subscription_id = ?) as e
    group by scope, user_key`,
  [big.organization.id, big.id, metric.id, big.currentPeriodStart, big.currentPeriodEnd, big.id, big.id],
);
console.log(`seeded ${EVENTS.toLocaleString('en')} events and their aggregates in ${((performance.now() - seeded) / 1000).toFixed(1)} s`);

async function measure(budget: Budget): Promise<{ p50: number; p99: number; pending: number }> {
  const durations: number[] = [];
  let pending = 0;
  const day = formatDayOf(Date.now());
  for (let sample = 0; sample < SAMPLES + 20; sample += 1) {
    const started = performance.now();
    const tracking = await trackingOf(orm.em.fork(), budget, day);
    if (sample >= 20) durations.push(performance.now() - started);
    pending = tracking.pending;
  }
  durations.sort((a, b) => a - b);
  return { p50: percentile(durations, 50), p99: percentile(durations, 99), pending };
}

const withEvents = await measure(budgets[0]!);
const withoutEvents = await measure(budgets[1]!);
console.log(`tracking, ${EVENTS.toLocaleString('en')} events: p50 ${withEvents.p50.toFixed(1)} ms, p99 ${withEvents.p99.toFixed(1)} ms (pending ${withEvents.pending})`);
console.log(`tracking, no events:  p50 ${withoutEvents.p50.toFixed(1)} ms, p99 ${withoutEvents.p99.toFixed(1)} ms (pending ${withoutEvents.pending})`);
console.log(`ratio (events / none): p50 ×${(withEvents.p50 / withoutEvents.p50).toFixed(2)}, p99 ×${(withEvents.p99 / withoutEvents.p99).toFixed(2)}`);
console.log(`target p99 ≤ ${TARGET_P99_MS} ms: ${withEvents.p99 <= TARGET_P99_MS ? 'met' : 'MISSED'}`);

await orm.close();
await postgres.stop();
