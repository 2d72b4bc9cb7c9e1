/**
 * Outgoing webhooks end to end: events recorded in committed transactions (the outbox), dispatched
 * after the commit, delivered by the real worker through a Temporal dev server, signed, to a local
 * receiver over loopback. Prints commit-to-receipt latency (p50/p90/p99) of events sent one at a
 * time, then deliveries/s of a burst from concurrent producers, each next to a baseline of the same
 * signed POSTs sent straight to the receiver (the ratio).
 *
 *   node --import tsx bench/webhooks.bench.ts [events] [concurrent producers]
 */
import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DefaultLogger, NativeConnection, Runtime } from '@temporalio/worker';
import { pino } from 'pino';
import { Webhook } from 'standardwebhooks';
import { startEmbeddedPostgres } from '../scripts/lib/embedded-postgres.js';
import { freePort } from '../scripts/lib/ports.js';
import { startTemporalDevServer } from '../scripts/lib/temporal-dev-server.js';
import { systemClock } from '../src/clock.js';
import { createOrm, migrateUp } from '../src/db/orm.js';
import { createStripeClient } from '../src/integrations/stripe.js';
import { createTemporalClient } from '../src/temporal/client.js';
import { createWorker } from '../src/temporal/worker.js';
import { dispatchWebhookEvents, recordWebhookEvent } from '../src/webhooks/outbox.js';
import { percentile, pool } from './support/measure.js';

const EVENTS = Number(process.argv[2] ?? 1_000);
const PRODUCERS = Number(process.argv[3] ?? 16);
const LATENCY_EVENTS = 100;
const ORGANIZATIONS = 100;
const TASK_QUEUE = 'webhooks-bench';
const secret = `whsec_${Buffer.from('ledgerflow-webhooks-bench-secret').toString('base64')}`;


/** Counts requests by webhook-id and notes when each first arrived. */
async function startReceiver() {
  const arrivals = new Map<string, number>();
  let waiting: { count: number; resolve: () => void } | undefined;
  const server = createServer((request, response) => {
    request.resume();
    request.on('end', () => {
      const id = String(request.headers['webhook-id']);
      if (!arrivals.has(id)) arrivals.set(id, performance.now());
      response.writeHead(204).end();
      if (waiting && arrivals.size >= waiting.count) waiting.resolve();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`,
    arrivals,
    reset: () => arrivals.clear(),
    until: (count: number) =>
      new Promise<void>((resolve) => {
        waiting = { count, resolve };
        if (arrivals.size >= count) resolve();
      }),
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}


function report(name: string, seconds: number, latencies: number[]) {
  const sorted = [...latencies].sort((a, b) => a - b);
  const perSecond = latencies.length / seconds;
  console.log(
    `${name.padEnd(34)} ${perSecond.toFixed(0).padStart(6)} deliveries/s   p50 ${percentile(sorted, 50).toFixed(1)} ms   p90 ${percentile(sorted, 90).toFixed(1)} ms   p99 ${percentile(sorted, 99).toFixed(1)} ms`,
  );
  return perSecond;
}

async function main(): Promise<void> {
  Runtime.install({ logger: new DefaultLogger('ERROR') });
  const postgres = await startEmbeddedPostgres({ dataDir: mkdtempSync(join(tmpdir(), 'ledgerflow-bench-')), port: await freePort(), persistent: false });
  const temporalServer = await startTemporalDevServer({
    executable: fileURLToPath(new URL('../.tools/bin/temporal', import.meta.url)),
    port: await freePort(),
  });
  const receiver = await startReceiver();
  try {
    await postgres.createDatabase('bench');
    const orm = await createOrm(postgres.urlFor('bench'), 20);
    await migrateUp(orm);
    await orm.em.fork().execute(
      `insert into organizations (id, name, currency, tax_rate_percent, payment_terms, net_terms_days, created_at, updated_at)
       select md5('org' || i)::uuid, 'Org ' || i, 'USD', 0, 'charge_automatically', 0, now(), now() from generate_series(1, ${ORGANIZATIONS}) i`,
    );
    await orm.em.fork().execute(
      `insert into webhook_endpoints (id, organization_id, url, events, secret, created_at)
       select gen_random_uuid(), md5('org' || i)::uuid, ?, '{invoice.*}', ?, now() from generate_series(1, ${ORGANIZATIONS}) i`,
      [receiver.url, secret],
    );
    const organizationIds = (await orm.em.fork().execute<{ id: string }[]>('select id from organizations order by id')).map((row) => row.id);

    const connection = await NativeConnection.connect({ address: temporalServer.address });
    const worker = await createWorker({
      connection,
      namespace: 'default',
      taskQueue: TASK_QUEUE,
      deps: {
        orm,
        stripe: createStripeClient({ STRIPE_SECRET_KEY: 'sk_test_bench', STRIPE_API_URL: 'http://127.0.0.1:1' }),
        clock: systemClock,
        logger: pino({ level: 'silent' }),
        // The receiver listens on 127.0.0.1.
        allowPrivateWebhookTargets: true,
      },
    });
    const workerRun = worker.run();
    const { client, connection: clientConnection } = createTemporalClient(temporalServer.address, 'default');
    try {
      const payload = (index: number) => ({ invoiceId: `inv_${index}`, total: 12_345, currency: 'USD', lines: 12 });

      // Warm-up: the first workflow tasks load the bundle into the worker's isolates.
      await pool(50, PRODUCERS, async (index) => {
        const id = await orm.em.fork().transactional((em) =>
          recordWebhookEvent(em, { organizationId: organizationIds[index % ORGANIZATIONS]!, type: 'invoice.finalized', data: payload(index), dedupeKey: `warm:${index}` }),
        );
        await dispatchWebhookEvents({ temporal: client, taskQueue: TASK_QUEUE, orm }, [id]);
      });
      await receiver.until(50);
      receiver.reset();

      /** Records and dispatches `total` events with `producers` concurrent producers; commit time by event id. */
      const produce = async (label: string, total: number, producers: number, waitEach: boolean) => {
        receiver.reset();
        const committedAt = new Map<string, number>();
        const started = performance.now();
        await pool(total, producers, async (index) => {
          const id = await orm.em.fork().transactional((em) =>
            recordWebhookEvent(em, { organizationId: organizationIds[index % ORGANIZATIONS]!, type: 'invoice.finalized', data: payload(index), dedupeKey: `${label}:${index}` }),
          );
          committedAt.set(id, performance.now());
          await dispatchWebhookEvents({ temporal: client, taskQueue: TASK_QUEUE, orm }, [id]);
          if (waitEach) await receiver.until(committedAt.size);
        });
        await receiver.until(total);
        return { seconds: (performance.now() - started) / 1000, latencies: [...committedAt].map(([id, at]) => receiver.arrivals.get(id)! - at) };
      };
      /** The same number of signed POSTs straight to the receiver: what delivery costs without outbox and Temporal. */
      const direct = async (total: number, producers: number) => {
        receiver.reset();
        const sentAt = new Map<string, number>();
        const started = performance.now();
        await pool(total, producers, async (index) => {
          const id = `direct-${index}`;
          const body = JSON.stringify({ id, type: 'invoice.finalized', createdAt: new Date().toISOString(), organizationId: organizationIds[0], data: payload(index) });
          const timestamp = new Date();
          sentAt.set(id, performance.now());
          const response = await fetch(receiver.url, {
            method: 'POST',
            headers: {
              'content-type': 'application/json',
              'webhook-id': id,
              'webhook-timestamp': String(Math.floor(timestamp.getTime() / 1000)),
              'webhook-signature': new Webhook(secret).sign(id, timestamp, body),
            },
            body,
          });
          await response.body?.cancel();
        });
        await receiver.until(total);
        return { seconds: (performance.now() - started) / 1000, latencies: [...sentAt].map(([id, at]) => receiver.arrivals.get(id)! - at) };
      };

      console.log(`latency: ${LATENCY_EVENTS} events one at a time (commit → receipt)`);
      const idle = await produce('idle', LATENCY_EVENTS, 1, true);
      report('  outbox → Temporal → signed POST', idle.seconds, idle.latencies);
      const idleDirect = await direct(LATENCY_EVENTS, 1);
      report('  baseline: signed POST only', idleDirect.seconds, idleDirect.latencies);

      console.log(`throughput: ${EVENTS} events from ${PRODUCERS} concurrent producers (latency includes queueing)`);
      const burst = await produce('burst', EVENTS, PRODUCERS, false);
      const outboxRate = report('  outbox → Temporal → signed POST', burst.seconds, burst.latencies);
      const burstDirect = await direct(EVENTS, PRODUCERS);
      const directRate = report('  baseline: signed POST only', burstDirect.seconds, burstDirect.latencies);
      console.log(`${ORGANIZATIONS} endpoints; durable delivery runs at ${((outboxRate / directRate) * 100).toFixed(1)}% of the baseline rate (load average ${loadavg()[0]!.toFixed(1)})`);
    } finally {
      worker.shutdown();
      await workerRun;
      await clientConnection.close();
      await connection.close();
      await orm.close();
    }
  } finally {
    await receiver.close();
    await temporalServer.stop();
    await postgres.stop();
  }
}

await main();
