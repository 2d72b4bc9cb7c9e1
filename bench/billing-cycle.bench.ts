/**
 * One billing cycle for 1,000 and for 10,000 accounts (each with a subscription, seats and usage)
 * through the real pieces: embedded PostgreSQL, a Temporal dev server, the real worker (in this
 * process, activities timed) and stripe-mock behind the Stripe fault proxy (PaymentIntents
 * succeed, one per idempotency key). Every account's `billing:<id>` is started (bounded
 * concurrency); each account is due today, so its cycle closes the period at once, as when its
 * timer fires, and `payment:<invoiceId>` charges the invoice. Prints wall time, invoices
 * finalized/s and charged/s (counted in the database), p50/p99 per account (start → the invoice's
 * `finalized_at`), the ratio between the sizes, and where the time goes (activity time by
 * activity, CPU by process, Stripe requests). Then, for each size, the same workflows with every
 * database and Stripe step answered from memory: what Temporal alone costs, the floor under the
 * real run (its rate next to the real one: a ratio).
 *
 *   node --import tsx bench/billing-cycle.bench.ts [sizes, default 1000,10000] [concurrency, default 64]
 *
 * Target: 10,000 accounts in ≤ 5 minutes.
 */
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundleWorkflowCode, DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { pino } from 'pino';
import { createActivities } from '../activities/index.js';
import { loadBillingAccounts } from '../scripts/lib/billing-accounts.js';
import { startEmbeddedPostgres } from '../scripts/lib/embedded-postgres.js';
import { freePort } from '../scripts/lib/ports.js';
import { startStripeMock } from '../scripts/lib/stripe-mock.js';
import { startTemporalDevServer } from '../scripts/lib/temporal-dev-server.js';
import { systemClock } from '../src/clock.js';
import { createOrm, migrateUp } from '../src/db/orm.js';
import { formatDayOf } from '../src/domain/index.js';
import { createStripeClient } from '../src/integrations/stripe.js';
import { createTemporalClient } from '../src/temporal/client.js';
import { workflowsPath } from '../src/temporal/worker.js';
import { paymentIntentCreation, paymentIntentsSucceed, startStripeFaultProxy, type StripeFaultProxy } from '../test/support/stripe-fault-proxy.js';
import { percentile, pool, sleep } from './support/measure.js';

const SIZES = (process.argv[2] ?? '1000,10000').split(',').map(Number);
const CONCURRENCY = Number(process.argv[3] ?? 64);
const TARGET_SECONDS = 300;

const tools = (name: string) => fileURLToPath(new URL(`../.tools/bin/${name}`, import.meta.url));


/** CPU milliseconds of a process and its descendants, from /proc (clock ticks of 10 ms). */
function treeCpuMillis(rootPid: number): number {
  const parents = new Map<number, number>();
  const ticks = new Map<number, number>();
  for (const entry of readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      parents.set(Number(entry), Number(fields[1]));
      ticks.set(Number(entry), Number(fields[11]) + Number(fields[12]));
    } catch {
      // The process ended while we looked.
    }
  }
  const inTree = (pid: number): boolean => pid === rootPid || (parents.has(pid) && pid !== 1 && inTree(parents.get(pid)!));
  let total = 0;
  for (const [pid, used] of ticks) if (inTree(pid)) total += used;
  return total * 10;
}

const postmasterPid = (dataDir: string) => Number(readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]!.trim());
const ownCpuMillis = () => {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1000;
};

/** Wraps every activity to add up its wall time per name. */
function timed<T extends Record<string, (...args: never[]) => Promise<unknown>>>(activities: T, spent: Map<string, { calls: number; ms: number }>): T {
  return Object.fromEntries(
    Object.entries(activities).map(([name, activity]) => [
      name,
      async (...args: never[]) => {
        const started = performance.now();
        try {
          return await activity(...args);
        } finally {
          const entry = spent.get(name) ?? { calls: 0, ms: 0 };
          entry.calls += 1;
          entry.ms += performance.now() - started;
          spent.set(name, entry);
        }
      },
    ]),
  ) as T;
}

type Activities = ReturnType<typeof createActivities>;

/**
 * The same steps answered from memory — an account due today, an open invoice of 1.00, a charge
 * that succeeds — except `startPaymentCollection`, which only starts a workflow and stays real.
 * With them the cycles cost what Temporal alone (the dev server and the SDK's worker) costs: the
 * floor under the real run. `paid` collects the invoices recorded paid.
 */
function inMemorySteps(real: Activities, paid: Set<string>): Activities {
  const today = formatDayOf(Date.now());
  const invoice = (invoiceId: string, status: 'open' | 'paid') => ({
    invoiceId,
    organizationId: invoiceId,
    number: `INV-${invoiceId}`,
    status,
    collectionMethod: 'charge_automatically' as const,
    currency: 'USD',
    amountOwed: status === 'open' ? 100 : 0,
    dueAt: null,
  });
  return {
    ...real,
    recordBillingCycleStarted: async () => new Date().toISOString(),
    nextBillingDay: async (_accountId, afterDay) => (afterDay === null ? today : null),
    closeBillingDay: async ({ accountId }) => ({
      invoice: { invoiceId: accountId, number: `INV-${accountId}`, status: 'open', amountDue: 100, collectionMethod: 'charge_automatically' },
      nextBillingDay: null,
    }),
    loadInvoiceForCollection: async (invoiceId) => invoice(invoiceId, 'open'),
    chargeInvoicePayment: async ({ invoiceId }) => ({ outcome: 'succeeded', paymentIntentId: `pi_${invoiceId}` }),
    recordStripePayment: async ({ invoiceId }) => {
      paid.add(invoiceId);
      return { recorded: true, invoice: invoice(invoiceId, 'paid') };
    },
  };
}

interface CycleResult {
  accounts: number;
  finalizedSeconds: number;
  chargedSeconds: number;
  latencies: number[];
}

async function main(): Promise<void> {
  Runtime.install({ logger: new DefaultLogger('ERROR') });
  const dataDir = mkdtempSync(join(tmpdir(), 'ledgerflow-bench-'));
  const [postgres, temporalServer, stripeMock, bundle] = await Promise.all([
    freePort().then((port) => startEmbeddedPostgres({ dataDir, port, persistent: false })),
    freePort().then((port) => startTemporalDevServer({ executable: tools('temporal'), port })),
    freePort().then((port) => startStripeMock({ executable: tools('stripe-mock'), port })),
    bundleWorkflowCode({ workflowsPath: workflowsPath(), logger: new DefaultLogger('ERROR') }),
  ]);
  const proxy: StripeFaultProxy = await startStripeFaultProxy(stripeMock.url);
  proxy.rewrite(paymentIntentCreation, paymentIntentsSucceed);
  // stripe-mock answers every creation with one fixture id; Stripe makes one PaymentIntent per idempotency key.
  proxy.rewrite(paymentIntentCreation, (response, request) => {
    const succeeded = paymentIntentsSucceed(response, request)!;
    const id = `pi_${request.params.get('metadata[invoiceId]')?.replaceAll('-', '')}_${request.params.get('metadata[attempt]') ?? '1'}`;
    return { ...succeeded, body: { ...succeeded.body, id } };
  });
  const { client, connection: clientConnection } = createTemporalClient(temporalServer.address, 'default');
  const results: CycleResult[] = [];
  try {
    for (const accounts of SIZES) {
      const database = `bench_${accounts}`;
      await postgres.createDatabase(database);
      const databaseUrl = postgres.urlFor(database);
      const orm = await createOrm(databaseUrl, 20);
      await migrateUp(orm);
      const loadStarted = performance.now();
      const { organizationIds } = await loadBillingAccounts(databaseUrl, accounts, database);
      console.log(`\n${accounts} accounts loaded in ${((performance.now() - loadStarted) / 1000).toFixed(1)} s`);

      const spent = new Map<string, { calls: number; ms: number }>();
      const taskQueue = `billing-bench-${accounts}`;
      const connection = await NativeConnection.connect({ address: temporalServer.address });
      const worker = await Worker.create({
        connection,
        namespace: 'default',
        taskQueue,
        workflowBundle: { code: bundle.code },
        activities: timed(
          createActivities({
            orm,
            stripe: createStripeClient({ STRIPE_SECRET_KEY: 'sk_test_bench', STRIPE_API_URL: proxy.url }),
            clock: systemClock,
            logger: pino({ level: 'silent' }),
          }),
          spent,
        ),
      });
      const workerRun = worker.run();
      const requestsBefore = proxy.requests.length;
      const cpuBefore = { bench: ownCpuMillis(), postgres: treeCpuMillis(postmasterPid(postgres.dataDir)), temporal: treeCpuMillis(temporalServer.process.pid!), stripeMock: treeCpuMillis(stripeMock.pid) };
      try {
        const startedAt = new Map<string, number>();
        const started = performance.now();
        const counter = orm.em.fork();
        /** Seconds from the first start until `sql` counts every account. */
        const allCounted = async (sql: string) => {
          for (;;) {
            const [row] = await counter.execute<{ n: string }[]>(sql);
            if (Number(row!.n) >= accounts) return (performance.now() - started) / 1000;
            await sleep(100);
          }
        };
        const starting = pool(accounts, CONCURRENCY, async (index) => {
          const organizationId = organizationIds[index]!;
          startedAt.set(organizationId, Date.now());
          await client.workflow.start('billingCycle', { workflowId: `billing:${organizationId}`, taskQueue, args: [{ organizationId }] });
        });
        const finalizedSeconds = await allCounted('select count(*) as n from invoices');
        await starting;
        const chargedSeconds = await allCounted("select count(*) as n from payments where method = 'stripe'");
        const finalized = await counter.execute<{ organization_id: string; at: number }[]>(
          'select organization_id, (extract(epoch from finalized_at) * 1000)::float8 as at from invoices',
        );
        const latencies = finalized.map((row) => Number(row.at) - startedAt.get(row.organization_id)!);
        const cpu = {
          bench: ownCpuMillis() - cpuBefore.bench,
          postgres: treeCpuMillis(postmasterPid(postgres.dataDir)) - cpuBefore.postgres,
          temporal: treeCpuMillis(temporalServer.process.pid!) - cpuBefore.temporal,
          stripeMock: treeCpuMillis(stripeMock.pid) - cpuBefore.stripeMock,
        };
        const [counts] = await counter.execute<{ invoices: string; paid: string; entries: string; unbalanced: string }[]>(
          `select (select count(*) from invoices) as invoices, (select count(*) from invoices where status = 'paid') as paid,
                  (select count(*) from journal_entries) as entries,
                  (select count(*) from (select 1 from journal_lines group by entry_id having sum(debit) <> sum(credit)) u) as unbalanced`,
        );
        const sorted = [...latencies].sort((a, b) => a - b);
        console.log(
          `${accounts} accounts: finalized in ${finalizedSeconds.toFixed(1)} s (${(accounts / finalizedSeconds).toFixed(1)}/s), ` +
            `charged in ${chargedSeconds.toFixed(1)} s (${(accounts / chargedSeconds).toFixed(1)}/s); per account (workflow start → invoice finalized) ` +
            `p50 ${percentile(sorted, 50).toFixed(0)} ms, p99 ${percentile(sorted, 99).toFixed(0)} ms`,
        );
        console.log(`  database: ${counts?.invoices} invoices, ${counts?.paid} paid, ${counts?.entries} journal entries, ${counts?.unbalanced} unbalanced`);
        const activityMs = [...spent.values()].reduce((sum, entry) => sum + entry.ms, 0);
        console.log(`  activity time (wall, summed over concurrent executions): ${(activityMs / 1000).toFixed(1)} s`);
        for (const [name, entry] of [...spent].sort(([, a], [, b]) => b.ms - a.ms)) {
          console.log(`    ${name.padEnd(28)} ${String(entry.calls).padStart(7)} calls  ${(entry.ms / 1000).toFixed(1).padStart(8)} s  ${(entry.ms / entry.calls).toFixed(1).padStart(7)} ms each`);
        }
        const stripeRequests = proxy.requests.slice(requestsBefore);
        const byPath = new Map<string, number>();
        for (const request of stripeRequests) byPath.set(`${request.method} ${request.path}`, (byPath.get(`${request.method} ${request.path}`) ?? 0) + 1);
        console.log(`  Stripe requests: ${[...byPath].map(([path, count]) => `${path} × ${count}`).join(', ')}`);
        console.log(
          `  CPU over the run: worker + client + Stripe proxy ${(cpu.bench / 1000).toFixed(0)} s, PostgreSQL ${(cpu.postgres / 1000).toFixed(0)} s, ` +
            `Temporal dev server ${(cpu.temporal / 1000).toFixed(0)} s, stripe-mock ${(cpu.stripeMock / 1000).toFixed(0)} s (of ${(chargedSeconds * 2).toFixed(0)} core-s; load average ${loadavg()[0]!.toFixed(1)})`,
        );
        results.push({ accounts, finalizedSeconds, chargedSeconds, latencies });
      } finally {
        worker.shutdown();
        await workerRun;
        await connection.close();
        await orm.close();
      }

      const paid = new Set<string>();
      const floorQueue = `billing-floor-${accounts}`;
      const floorConnection = await NativeConnection.connect({ address: temporalServer.address });
      const floorWorker = await Worker.create({
        connection: floorConnection,
        namespace: 'default',
        taskQueue: floorQueue,
        workflowBundle: { code: bundle.code },
        activities: inMemorySteps(createActivities({ orm, stripe: createStripeClient({ STRIPE_SECRET_KEY: 'sk_test_bench', STRIPE_API_URL: proxy.url }), clock: systemClock, logger: pino({ level: 'silent' }) }), paid),
      });
      const floorRun = floorWorker.run();
      try {
        const cpuBefore = { bench: ownCpuMillis(), temporal: treeCpuMillis(temporalServer.process.pid!) };
        const started = performance.now();
        await pool(accounts, CONCURRENCY, async (index) => {
          const accountId = `floor-${accounts}-${index}`;
          await client.workflow.start('billingCycle', { workflowId: `billing:${accountId}`, taskQueue: floorQueue, args: [{ organizationId: accountId }] });
        });
        while (paid.size < accounts) await sleep(100);
        const seconds = (performance.now() - started) / 1000;
        const real = results.at(-1)!;
        console.log(
          `  Temporal alone (the same workflows, every database and Stripe step answered from memory): ${accounts} charged in ${seconds.toFixed(1)} s ` +
            `(${(accounts / seconds).toFixed(1)}/s; the real run reaches ${((accounts / real.chargedSeconds / (accounts / seconds)) * 100).toFixed(0)} % of it); ` +
            `CPU: worker + client ${((ownCpuMillis() - cpuBefore.bench) / 1000).toFixed(0)} s, Temporal dev server ${((treeCpuMillis(temporalServer.process.pid!) - cpuBefore.temporal) / 1000).toFixed(0)} s`,
        );
      } finally {
        floorWorker.shutdown();
        await floorRun;
        await floorConnection.close();
      }
    }
    if (results.length === 2) {
      const [small, large] = results as [CycleResult, CycleResult];
      const rate = (result: CycleResult, seconds: number) => result.accounts / seconds;
      console.log(
        `\nratio ${large.accounts}/${small.accounts}: finalized/s ${(rate(large, large.finalizedSeconds) / rate(small, small.finalizedSeconds)).toFixed(2)}, ` +
          `charged/s ${(rate(large, large.chargedSeconds) / rate(small, small.chargedSeconds)).toFixed(2)} (1.00: cost grows linearly with accounts)`,
      );
    }
    const largest = results.at(-1);
    if (largest && largest.accounts >= 10_000) {
      console.log(`target (10,000 accounts finalized and charged in ≤ ${TARGET_SECONDS / 60} min): ${largest.chargedSeconds <= TARGET_SECONDS ? 'met' : 'NOT met'}`);
    }
  } finally {
    await clientConnection.close();
    await proxy.stop();
    await stripeMock.stop();
    await temporalServer.stop();
    await postgres.stop();
  }
}

await main();
