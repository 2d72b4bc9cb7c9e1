/**
 * ERP sync under a vendor's rate limit: N invoices and their payments pushed through the outbox,
 * `erp:` workflows on a real worker and the QuickBooks connector to its mock, which enforces a
 * sliding-window limit the way vendors do (429 + Retry-After) and injects 10 % 500s and 2 %
 * answers lost after the document was stored (the client times out). Reports documents/s and
 * requests/s as a share of the limit (target ≥ 0.9 for requests: the client paces itself at 95 %
 * of it), duplicates in the mock (target 0), 429s received (the client should not bounce off the
 * limit), push latency percentiles and this process's CPU per document (worker + dispatcher).
 *
 *   node --import tsx bench/erp-sync.bench.ts [invoices=5000] [requests per second=50]
 */
import { mkdtempSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DefaultLogger, NativeConnection, Runtime } from '@temporalio/worker';
import { pino } from 'pino';
import { startEmbeddedPostgres } from '../scripts/lib/embedded-postgres.js';
import { freePort } from '../scripts/lib/ports.js';
import { startTemporalDevServer } from '../scripts/lib/temporal-dev-server.js';
import { systemClock } from '../src/clock.js';
import { createOrm, migrateUp } from '../src/db/orm.js';
import { enqueueErpDocuments, replaceGlMappings } from '../src/db/repositories/erp-sync.js';
import { startErpDispatcher } from '../src/integrations/erp/dispatcher.js';
import { sealContext } from '../src/integrations/erp/runtime.js';
import { createStripeClient } from '../src/integrations/stripe.js';
import { createSecretBox, generateSecretKeyEntry } from '../src/secrets.js';
import { createTemporalClient } from '../src/temporal/client.js';
import { ensureSearchAttributes } from '../src/temporal/search-attributes.js';
import { createWorker } from '../src/temporal/worker.js';
import { quickbooksFixture } from '../test/support/erp-mock/quickbooks.js';
import { startErpMock } from '../test/support/erp-mock/server.js';
import { percentile, sleep } from './support/measure.js';

const INVOICES = Number(process.argv[2] ?? 5_000);
const LIMIT = Number(process.argv[3] ?? 50);
const ORGANIZATIONS = 50;
const TASK_QUEUE = 'erp-bench';

async function main(): Promise<void> {
  Runtime.install({ logger: new DefaultLogger('ERROR') });
  const postgres = await startEmbeddedPostgres({ dataDir: mkdtempSync(join(tmpdir(), 'ledgerflow-bench-')), port: await freePort(), persistent: false });
  const temporalServer = await startTemporalDevServer({ executable: fileURLToPath(new URL('../.tools/bin/temporal', import.meta.url)), port: await freePort() });
  const mock = await startErpMock(quickbooksFixture.vendor);
  mock.setRateLimit({ requests: LIMIT, windowMs: 1_000, retryAfterSeconds: 1 });
  const pushes = (request: { method: string }) => request.method === 'POST';
  mock.setRandomFaults(
    [
      { fault: { kind: 'status', status: 500 }, probability: 0.1 },
      { fault: { kind: 'hang_after_success' }, probability: 0.02 },
    ],
    { seed: 42, match: pushes },
  );
  const secrets = createSecretBox(generateSecretKeyEntry('bench'));
  try {
    await postgres.createDatabase('bench');
    const orm = await createOrm(postgres.urlFor('bench'), 20);
    await migrateUp(orm);
    const em = orm.em.fork();
    await em.execute(
      `insert into organizations (id, name, currency, tax_rate_percent, payment_terms, net_terms_days, created_at, updated_at)
       select md5('org' || i)::uuid, 'Org ' || i, 'USD', 0, 'send_invoice', 30, now(), now() from generate_series(1, ${ORGANIZATIONS}) i`,
    );
    await em.execute(
      `insert into invoices (id, organization_id, billing_date, number, status, currency, collection_method, period_start, period_end, subtotal, discount, tax, total,
         credit_applied, amount_due, amount_paid, amount_credited, due_at, finalized_at, created_at, updated_at)
       select md5('inv' || i)::uuid, md5('org' || (i % ${ORGANIZATIONS} + 1))::uuid, now() - make_interval(days => i), 'INV-BENCH-' || lpad(i::text, 7, '0'), 'open', 'USD',
         'send_invoice', now() - interval '30 days', now(), 10000 + i, 0, 0, 10000 + i, 0, 10000 + i, 0, 0, now() + interval '30 days', now(), now(), now()
       from generate_series(1, ${INVOICES}) i`,
    );
    await em.execute(
      `insert into invoice_lines (id, invoice_id, position, key, type, description, organization_id, quantity, unit_amount, amount, period_start, period_end)
       select gen_random_uuid(), md5('inv' || i)::uuid, 0, 'bench', 'subscription', 'Platform fee', md5('org' || (i % ${ORGANIZATIONS} + 1))::uuid, '1', 10000 + i, 10000 + i,
         now() - interval '30 days', now()
       from generate_series(1, ${INVOICES}) i`,
    );
    await em.execute(
      `insert into payments (id, invoice_id, amount, currency, method, reference, received_at, recorded_by, created_at)
       select md5('pay' || i)::uuid, md5('inv' || i)::uuid, 10000 + i, 'USD', 'wire', 'WIRE-' || i, now(), 'bench', now() from generate_series(1, ${INVOICES}) i`,
    );
    const integrationId = crypto.randomUUID();
    const credentials = secrets.encrypt(JSON.stringify(quickbooksFixture.credentials), sealContext.credentials(integrationId));
    await em.execute(
      `insert into erp_integrations (id, provider, name, organization_id, status, document_types, credentials, access_token, settings, rate_next_at, created_by, created_at, updated_at)
       values (?, 'quickbooks', 'bench', null, 'connected', '{customer,invoice,credit_note,payment,refund}', ?, null, ?::jsonb, now(), 'bench', now(), now())`,
      [integrationId, credentials, JSON.stringify({ ...quickbooksFixture.settings(mock), requestsPerSecond: LIMIT, timeoutMs: 2_000 })],
    );
    await em.transactional((tx) => replaceGlMappings(tx, integrationId, quickbooksFixture.glMappings));

    const connection = await NativeConnection.connect({ address: temporalServer.address });
    const { client, connection: clientConnection } = createTemporalClient(temporalServer.address, 'default');
    await ensureSearchAttributes(clientConnection, 'default', pino({ level: 'silent' }));
    const worker = await createWorker({
      connection,
      namespace: 'default',
      taskQueue: TASK_QUEUE,
      deps: {
        orm,
        stripe: createStripeClient({ STRIPE_SECRET_KEY: 'sk_test_bench', STRIPE_API_URL: 'http://127.0.0.1:1' }),
        clock: systemClock,
        logger: pino({ level: 'silent' }),
        secrets,
      },
    });
    const workerRun = worker.run();
    const dispatcher = startErpDispatcher({ orm, temporal: client, taskQueue: TASK_QUEUE, logger: pino({ level: 'silent' }) });
    try {
      const ids = (prefix: string) => em.execute<{ id: string; organization_id: string }[]>(`select id, ${prefix === 'pay' ? '(select organization_id from invoices where invoices.id = payments.invoice_id)' : 'organization_id'} as organization_id from ${prefix === 'pay' ? 'payments' : 'invoices'}`);
      const cpuBefore = process.cpuUsage();
      const started = performance.now();
      const queue = async (documentType: 'invoice' | 'payment', rows: { id: string; organization_id: string }[]) =>
        orm.em.fork().transactional((tx) => enqueueErpDocuments(tx, rows.map((row) => ({ documentType, documentId: row.id, organizationId: row.organization_id }))));
      // Invoices are finalized first; their payments arrive while they are still being pushed.
      await queue('invoice', await ids('inv'));
      await sleep(10_000);
      await queue('payment', await ids('pay'));
      const total = INVOICES * 2 + ORGANIZATIONS;
      let synced = 0;
      /** When 10 % and 90 % of the documents were in: the steady state, without the start and the tail. */
      const marks: { count: number; at: number }[] = [];
      for (;;) {
        const [row] = await orm.em.fork().execute<{ synced: string; failed: string }[]>(
          `select count(*) filter (where status = 'synced')::text as synced, count(*) filter (where status = 'failed')::text as failed from erp_sync_documents`,
        );
        synced = Number(row!.synced);
        const failed = Number(row!.failed);
        if ((marks.length === 0 && synced >= total * 0.1) || (marks.length === 1 && synced >= total * 0.9)) marks.push({ count: synced, at: performance.now() });
        process.stdout.write(`\r  ${synced}/${total} synced, ${failed} failed, ${((performance.now() - started) / 1000).toFixed(0)} s   `);
        if (synced + failed >= total) break;
        await sleep(2_000);
      }
      const seconds = (performance.now() - started) / 1000;
      const cpu = process.cpuUsage(cpuBefore);
      console.log();

      const api = mock.requests.filter((request) => !request.path.includes('oauth'));
      const duplicates = (collection: string, field: string) => {
        const values = mock.collection(collection).map((document) => document[field]);
        return values.length - new Set(values).size;
      };
      const latencies = await orm.em.fork().execute<{ ms: number }[]>(
        `select extract(epoch from a.finished_at - d.created_at) * 1000 as ms from erp_sync_attempts a join erp_sync_documents d using (integration_id, document_type, document_id) where a.outcome in ('synced', 'reconciled')`,
      );
      const sorted = latencies.map((row) => Number(row.ms)).sort((a, b) => a - b);
      const outcomes = await orm.em.fork().execute<{ outcome: string; count: string }[]>(`select outcome, count(*)::text as count from erp_sync_attempts group by outcome order by outcome`);
      console.log(`${INVOICES} invoices + ${INVOICES} payments + ${ORGANIZATIONS} customers to a mock QuickBooks limited to ${LIMIT} requests/s (10 % 500s, 2 % lost answers)`);
      console.log(`  documents/s          ${(synced / seconds).toFixed(1)}   (${(synced / seconds / LIMIT).toFixed(2)} of the limit; ${(api.length / synced).toFixed(2)} requests per document)`);
      console.log(`  requests/s           ${(api.length / seconds).toFixed(1)}   (${(api.length / seconds / LIMIT).toFixed(2)} of the limit)`);
      if (marks.length === 2) {
        const steady = (marks[1]!.count - marks[0]!.count) / ((marks[1]!.at - marks[0]!.at) / 1000);
        const perDocument = api.length / synced;
        console.log(`  steady state         ${steady.toFixed(1)} documents/s (${(steady / LIMIT).toFixed(2)} of the limit), about ${(steady * perDocument).toFixed(1)} requests/s (${((steady * perDocument) / LIMIT).toFixed(2)}), from 10 % to 90 % in`);
      }
      console.log(`  duplicates in mock   invoices ${duplicates('Invoice', 'DocNumber')}, payments ${duplicates('Payment', 'PaymentRefNum')}, customers ${duplicates('Customer', 'DisplayName')}`);
      console.log(`  stored in mock       ${mock.collection('Invoice').length} invoices, ${mock.collection('Payment').length} payments, ${mock.collection('Customer').length} customers`);
      console.log(`  429s received        ${api.filter((request) => request.status === 429).length} of ${api.length} requests`);
      console.log(`  attempts             ${outcomes.map((row) => `${row.outcome} ${row.count}`).join(', ')}`);
      console.log(`  queued → synced      p50 ${(percentile(sorted, 50) / 1000).toFixed(1)} s   p90 ${(percentile(sorted, 90) / 1000).toFixed(1)} s   p99 ${(percentile(sorted, 99) / 1000).toFixed(1)} s`);
      console.log(`  CPU per document     ${((cpu.user + cpu.system) / 1000 / synced).toFixed(2)} ms (this process: worker, dispatcher; load average ${loadavg()[0]!.toFixed(1)})`);
      console.log(`  wall time            ${seconds.toFixed(0)} s; schema violations ${mock.schemaViolations.length}`);
    } finally {
      await dispatcher.stop();
      worker.shutdown();
      await workerRun;
      await clientConnection.close();
      await connection.close();
      await orm.close();
    }
  } finally {
    await mock.close();
    await temporalServer.stop();
    await postgres.stop();
  }
}

await main();
