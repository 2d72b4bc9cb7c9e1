/**
 * Usage ingestion under load. Loads 1,000 organizations with a usage subscription into an
 * embedded PostgreSQL (fsync and synchronous commit on: a 202 means the events are durable),
 * serves the API in a child process and drives it with autocannon over loopback:
 *
 *   1. baseline: the same PostgreSQL taking the same rows into `usage_events` by COPY from this script;
 *   2. `POST /v1/usage/batch`, 1,000 events of ~200 bytes per request, from 1, 2 and 8 connections;
 *   3. `POST /v1/usage`, one event per request, from 16, 32 and 64 connections
 *   (request bodies are built before each run, so building them takes no CPU from the server);
 *   4. a full replay: 1,000,000 events recorded, then all sent again, which must add 0 to every
 *      aggregate (a digest of every aggregate row before and after);
 *   5. `GET /v1/usage` of the organization that received most of them.
 *
 *   node --import tsx bench/usage-ingest.bench.ts [seconds per run] [COPY and replay connections] [replay events]
 *
 * Targets: batch ≥ 20,000 events/s with p99 ≤ 100 ms; single ≥ 3,000 events/s with p99 ≤ 30 ms;
 * the replay adds 0.
 */
import { fork } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import pg from 'pg';
import { startEmbeddedPostgres } from '../scripts/lib/embedded-postgres.js';
import { freePort } from '../scripts/lib/ports.js';
import { serveBenchApi } from './support/api-process.js';
import { generateApiKey } from '../src/api/auth/api-keys.js';
import { createOrm, migrateUp } from '../src/db/orm.js';

const ORGANIZATIONS = 1_000;
const BATCH = 1_000;
/** Organizations one batch speaks for: a product backend flushes a buffer shared by its tenants. */
const ORGANIZATIONS_PER_BATCH = 10;
const SECONDS = Number(process.argv[2] ?? 15);
const CONNECTIONS = Number(process.argv[3] ?? 8);
/** Batch callers: one product backend flushing its buffer, two, and many at once (where latency gives way to throughput). */
const BATCH_CONNECTIONS = [1, 2, 8];
const SINGLE_CONNECTIONS = [16, 32, 64];
const REPLAY_EVENTS = Number(process.argv[4] ?? 1_000_000);
const METRIC = 'api_calls';
const ENDPOINTS = ['/v1/reports', '/v1/assessments', '/v1/exports', '/v1/search'];

const organizationId = (index: number) => {
  const hex = (index + 1).toString(16).padStart(12, '0');
  return `0b000000-0000-4000-8000-${hex}`;
};

async function load(databaseUrl: string): Promise<{ writeKey: string; readKey: string }> {
  const orm = await createOrm(databaseUrl, 2);
  await migrateUp(orm);
  const em = orm.em.fork();
  await em.execute(`insert into applications (id, slug, name, created_at) values (md5('app')::uuid, 'bench-app', 'Bench', now())`);
  await em.execute(`insert into metrics (id, code, name, aggregation, field, created_at) values (md5('metric')::uuid, '${METRIC}', 'API calls', 'count', null, now())`);
  await em.execute(`insert into plans (id, code, version, name, application_id, currency, interval, base_price, seat_price, included_seats, trial_days, created_at)
    values (md5('plan')::uuid, 'bench-usage', 1, 'Bench usage', md5('app')::uuid, 'USD', 'month', 0, 0, 0, 0, now())`);
  // A quota no run reaches: alerts would be recorded once and dispatched to a Temporal that is not there.
  await em.execute(`insert into plan_charges (id, plan_id, position, metric_id, model, unit_price, included, allocation)
    values (md5('charge')::uuid, md5('plan')::uuid, 0, md5('metric')::uuid, 'per_unit', 0.001, 1000000000, 'pooled')`);
  await em.execute(`insert into organizations (id, name, currency, tax_rate_percent, payment_terms, net_terms_days, created_at, updated_at)
    select ('0b000000-0000-4000-8000-' || lpad(to_hex(i), 12, '0'))::uuid, 'Org ' || i, 'USD', 0, 'charge_automatically', 0, now(), now()
    from generate_series(1, ${ORGANIZATIONS}) i`);
  await em.execute(`insert into subscriptions (id, organization_id, application_id, plan_id, status, seats, start_date, trial_end,
      current_period_start, current_period_end, version, created_at, updated_at)
    select gen_random_uuid(), ('0b000000-0000-4000-8000-' || lpad(to_hex(i), 12, '0'))::uuid, md5('app')::uuid, md5('plan')::uuid, 'active', 10,
      date_trunc('month', now()), date_trunc('month', now()), date_trunc('month', now()), date_trunc('month', now()) + interval '1 month', 1, now(), now()
    from generate_series(1, ${ORGANIZATIONS}) i`);
  await em.execute(`insert into subscription_phases (id, subscription_id, sequence, kind, effective_at, plan_id, seats, proration_lines, created_at)
    select gen_random_uuid(), id, 0, 'start', date_trunc('month', now()), md5('plan')::uuid, 10, '[]', now() from subscriptions`);
  // A product backend's key (usage:write only) and an operator's (read), both platform-wide.
  const keys: string[] = [];
  for (const scope of ['usage:write', 'read']) {
    const { key, hash, displayPrefix } = generateApiKey();
    await em.execute(`insert into api_keys (id, name, display_prefix, key_hash, scopes, platform_role, created_by, created_at)
      values (gen_random_uuid(), ?, ?, ?, ?, 'platform_admin', 'bench', now())`, [`bench ${scope}`, displayPrefix, hash, `{${scope}}`]);
    keys.push(key);
  }
  await em.execute('analyze');
  await orm.close();
  const [writeKey, readKey] = keys as [string, string];
  return { writeKey, readKey };
}

function startApiProcess(databaseUrl: string): Promise<{ port: number; stop: () => void }> {
  const child = fork(fileURLToPath(import.meta.url), [], { env: { ...process.env, USAGE_BENCH_DATABASE_URL: databaseUrl }, stdio: 'inherit' });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`API process exited with ${code}`)));
    child.once('message', (message: { port: number }) => resolve({ port: message.port, stop: () => child.disconnect() }));
  });
}

interface UsageEventBody {
  eventId: string;
  metricCode: string;
  organizationId: string;
  userId: string;
  timestamp: string;
  properties: { endpoint: string };
}

/** An event as a product backend sends it: about 200 bytes of JSON. */
function usageEvent(eventId: string, organization: number, sequence: number, timestamp: string): UsageEventBody {
  return {
    eventId,
    metricCode: METRIC,
    organizationId: organizationId(organization),
    userId: `user-${sequence % 50}`,
    timestamp,
    properties: { endpoint: ENDPOINTS[sequence % ENDPOINTS.length]! },
  };
}

let sequence = 0;
/** A batch of fresh events for a few random organizations. */
function freshBatch(): string {
  const organizations = Array.from({ length: ORGANIZATIONS_PER_BATCH }, () => Math.floor(Math.random() * ORGANIZATIONS));
  const timestamp = new Date().toISOString();
  const run = `${process.pid}-${Date.now().toString(36)}`;
  return JSON.stringify({
    events: Array.from({ length: BATCH }, (_, index) => {
      sequence += 1;
      return usageEvent(`b-${run}-${sequence}`, organizations[index % ORGANIZATIONS_PER_BATCH]!, sequence, timestamp);
    }),
  });
}

/**
 * Bodies built before a run starts, so building them does not take CPU from the server while it is
 * measured (the load generator shares this machine); a run that outlasts them builds more as it goes.
 */
function prebuilt(count: number, build: () => string): autocannon.Request['setupRequest'] {
  const bodies = Array.from({ length: count }, build);
  let next = 0;
  return (request) => ({ ...request, body: bodies[next++] ?? build() });
}

function freshEvent(): string {
  sequence += 1;
  return JSON.stringify(usageEvent(`s-${process.pid}-${sequence}`, Math.floor(Math.random() * ORGANIZATIONS), sequence, new Date().toISOString()));
}

/** Event `index` of the replay set: the same every time it is asked for. Half of them go to organization 0. */
function replayEvent(index: number, timestamp: string): UsageEventBody {
  const organization = index % 2 === 0 ? 0 : 1 + (index % (ORGANIZATIONS - 1));
  return usageEvent(`r-${index}`, organization, index, timestamp);
}

interface Measured {
  name: string;
  requestsPerSecond: number;
  eventsPerSecond: number;
  p50: number;
  p99: number;
  non2xx: number;
  errors: number;
}

async function drive(name: string, eventsPerRequest: number, options: autocannon.Options): Promise<Measured> {
  const result = await autocannon({ connections: CONNECTIONS, duration: SECONDS, ...options });
  return {
    name,
    requestsPerSecond: result.requests.average,
    eventsPerSecond: result.requests.average * eventsPerRequest,
    p50: result.latency.p50,
    p99: result.latency.p99,
    non2xx: result.non2xx,
    errors: result.errors,
  };
}

/**
 * `COPY … FROM STDIN` through node-postgres' submittable interface (what pg-copy-streams does),
 * so the baseline needs no dependency of its own.
 */
function copyFrom(client: pg.PoolClient, text: string, data: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let failure: Error | undefined;
    const copy = {
      submit: (connection: { query(text: string): void }) => connection.query(text),
      handleCopyInResponse: (connection: { sendCopyFromChunk(chunk: Buffer): void; endCopyFrom(): void }) => {
        connection.sendCopyFromChunk(Buffer.from(data));
        connection.endCopyFrom();
      },
      handleCommandComplete: () => undefined,
      handleError: (error: Error) => void (failure = error),
      handleReadyForQuery: () => (failure ? reject(failure) : resolve()),
    };
    void client.query(copy as unknown as pg.QueryConfig);
  });
}

/** The baseline: the rows the API would store for `count` events, COPYed into `usage_events` in batches of 1,000. */
async function copyBaseline(databaseUrl: string, count: number): Promise<Measured> {
  const pool = new pg.Pool({ connectionString: databaseUrl, max: CONNECTIONS });
  const [{ subscriptionId, metricId }] = (await pool.query<{ subscriptionId: string; metricId: string }>(
    `select (select id::text from subscriptions limit 1) as "subscriptionId", md5('metric')::uuid::text as "metricId"`,
  )).rows as [{ subscriptionId: string; metricId: string }];
  const periodStart = new Date(Date.UTC(new Date().getUTCFullYear(), new Date().getUTCMonth(), 1)).toISOString();
  const batches = Array.from({ length: Math.ceil(count / BATCH) }, (_, batch) =>
    Array.from({ length: BATCH }, (__, index) => {
      const event = usageEvent(`copy-${batch}-${index}`, batch % ORGANIZATIONS, index, new Date().toISOString());
      return [
        event.organizationId,
        event.eventId,
        event.timestamp,
        event.timestamp,
        subscriptionId,
        metricId,
        periodStart,
        event.userId,
        '\\N',
        '1',
        '1',
        '\\N',
        JSON.stringify(event.properties),
      ].join('\t');
    }).join('\n') + '\n',
  );
  const latencies: number[] = [];
  const started = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: CONNECTIONS }, async () => {
      const client = await pool.connect();
      try {
        while (next < batches.length) {
          const data = batches[next++]!;
          const at = performance.now();
          await copyFrom(
            client,
            `copy usage_events (organization_id, event_id, occurred_at, received_at, subscription_id, metric_id, period_start, user_id,
               department_id, quantity, value, distinct_key, properties) from stdin`,
            data,
          );
          latencies.push(performance.now() - at);
        }
      } finally {
        client.release();
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  await pool.query(`delete from usage_events where event_id like 'copy-%'`);
  await pool.end();
  latencies.sort((a, b) => a - b);
  const percentile = (p: number) => Math.round(latencies[Math.min(latencies.length - 1, Math.floor((latencies.length * p) / 100))]!);
  return { name: 'COPY (baseline)', requestsPerSecond: batches.length / seconds, eventsPerSecond: count / seconds, p50: percentile(50), p99: percentile(99), non2xx: 0, errors: 0 };
}

/** Sends the replay set in batches over a few connections; returns the events accepted and the elapsed seconds. */
async function sendReplaySet(base: string, headers: Record<string, string>, timestamp: string): Promise<{ accepted: number; duplicates: number; seconds: number }> {
  let next = 0;
  let accepted = 0;
  let duplicates = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CONNECTIONS }, async () => {
      while (next < REPLAY_EVENTS) {
        const from = next;
        next += BATCH;
        const events = Array.from({ length: Math.min(BATCH, REPLAY_EVENTS - from) }, (_, offset) => replayEvent(from + offset, timestamp));
        const response = await fetch(`${base}/v1/usage/batch`, { method: 'POST', headers, body: JSON.stringify({ events }) });
        const body = (await response.json()) as { accepted: number; duplicates: number };
        if (response.status !== 202) throw new Error(`replay batch answered ${response.status}: ${JSON.stringify(body)}`);
        accepted += body.accepted;
        duplicates += body.duplicates;
      }
    }),
  );
  return { accepted, duplicates, seconds: (performance.now() - started) / 1000 };
}

async function aggregateDigest(databaseUrl: string): Promise<{ rows: number; digest: string; events: string }> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ rows: number; digest: string; events: string }>(
      `select count(*)::int as rows, md5(string_agg(concat_ws('|', subscription_id, metric_id, period_start, scope, user_key, department_key, quantity, event_count), ','
         order by subscription_id, metric_id, period_start, scope, user_key, department_key)) as digest,
         (select count(*) from usage_event_keys)::text as events
       from usage_aggregates`,
    );
    return rows[0]!;
  } finally {
    await client.end();
  }
}

function print(results: Measured[]): void {
  console.log('\nrun                        events/s   requests/s   p50 ms   p99 ms   non-2xx   errors');
  for (const result of results) {
    console.log(
      `${result.name.padEnd(25)}  ${result.eventsPerSecond.toFixed(0).padStart(8)}   ${result.requestsPerSecond.toFixed(0).padStart(10)}   ${String(result.p50).padStart(6)}   ${String(result.p99).padStart(6)}   ${String(result.non2xx).padStart(7)}   ${String(result.errors).padStart(6)}`,
    );
  }
}

async function main(): Promise<void> {
  // Persistent, so PostgreSQL keeps fsync and synchronous commit on (USAGE_BENCH_DURABLE=0 turns
  // them off, as the test suites run); the directory is removed at the end.
  const durable = process.env.USAGE_BENCH_DURABLE !== '0';
  const dataDir = mkdtempSync(join(tmpdir(), 'ledgerflow-usage-bench-'));
  const postgres = await startEmbeddedPostgres({ dataDir: join(dataDir, 'pg'), port: await freePort(), persistent: durable });
  try {
    await postgres.createDatabase('bench');
    const databaseUrl = postgres.urlFor('bench');
    const { writeKey: key, readKey } = await load(databaseUrl);
    console.log(`loaded ${ORGANIZATIONS} organizations with a usage subscription; fsync and synchronous_commit ${durable ? 'on' : 'off'}`);
    const baseline = await copyBaseline(databaseUrl, 300_000);
    const api = await startApiProcess(databaseUrl);
    try {
      const base = `http://127.0.0.1:${api.port}`;
      const headers = { authorization: `Bearer ${key}`, 'content-type': 'application/json' };
      const sample = freshBatch();
      console.log(`batch body: ${sample.length} bytes, ${(sample.length / BATCH).toFixed(0)} bytes per event`);
      const probe = await fetch(`${base}/v1/usage/batch`, { method: 'POST', headers, body: sample });
      console.log('probe batch:', probe.status, await probe.text());
      // Enough bodies for the fastest rate seen here (about 60 batches/s, 12,000 single events/s).
      const batch = (seconds: number): autocannon.Options => ({
        url: `${base}/v1/usage/batch`,
        duration: seconds,
        requests: [{ method: 'POST', headers, setupRequest: prebuilt(seconds * 60, freshBatch) }],
      });
      const single = (seconds: number): autocannon.Options => ({
        url: `${base}/v1/usage`,
        duration: seconds,
        requests: [{ method: 'POST', headers, setupRequest: prebuilt(seconds * 12_000, freshEvent) }],
      });
      await drive('warm-up', BATCH, batch(3));
      const batchRuns: Measured[] = [];
      for (const connections of BATCH_CONNECTIONS) batchRuns.push(await drive(`POST /v1/usage/batch (${connections} conns)`, BATCH, { ...batch(SECONDS), connections }));
      // Single events from 16 and from 64 concurrent callers: group commit trades latency for throughput.
      const singleRuns: Measured[] = [];
      for (const connections of SINGLE_CONNECTIONS) singleRuns.push(await drive(`POST /v1/usage (${connections} conns)`, 1, { ...single(SECONDS), connections }));
      print([baseline, ...batchRuns, ...singleRuns]);
      console.log(
        `batch/COPY events/s ratio: ${batchRuns.map((run) => (run.eventsPerSecond / baseline.eventsPerSecond).toFixed(2)).join(', ')}; single/COPY: ${singleRuns.map((run) => (run.eventsPerSecond / baseline.eventsPerSecond).toFixed(3)).join(', ')}`,
      );

      console.log(`\nreplay: ${REPLAY_EVENTS} events, half of them for one organization`);
      const timestamp = new Date().toISOString();
      const first = await sendReplaySet(base, headers, timestamp);
      console.log(`first pass: ${first.accepted} accepted, ${first.duplicates} duplicates in ${first.seconds.toFixed(1)} s (${(REPLAY_EVENTS / first.seconds).toFixed(0)} events/s)`);
      const before = await aggregateDigest(databaseUrl);
      const again = await sendReplaySet(base, headers, timestamp);
      const after = await aggregateDigest(databaseUrl);
      console.log(`replay:     ${again.accepted} accepted, ${again.duplicates} duplicates in ${again.seconds.toFixed(1)} s (${(REPLAY_EVENTS / again.seconds).toFixed(0)} events/s)`);
      const unchanged = again.accepted === 0 && before.digest === after.digest && before.events === after.events;
      console.log(`aggregates: ${before.rows} rows, digest ${before.digest} before, ${after.digest} after: ${unchanged ? 'replay added 0' : 'CHANGED'}`);

      const busiest = organizationId(0);
      const [{ id: subscriptionId }] = (await (async () => {
        const client = new pg.Client({ connectionString: databaseUrl });
        await client.connect();
        const found = await client.query<{ id: string }>('select id from subscriptions where organization_id = $1', [busiest]);
        await client.end();
        return found.rows;
      })()) as [{ id: string }];
      const read = await drive('GET /v1/usage (1 org)', 0, {
        url: `${base}/v1/usage?subscriptionId=${subscriptionId}&userId=user-8`,
        headers: { authorization: `Bearer ${readKey}` },
        duration: 5,
      });
      print([read]);
      console.log(`(organization ${busiest}: ${Math.ceil(REPLAY_EVENTS / 2)}+ events, served from its aggregates)`);

      const clean = (run: Measured) => run.non2xx === 0 && run.errors === 0;
      const verdict = (met: boolean) => (met ? 'met' : 'NOT met');
      console.log(`\ntargets:`);
      for (const run of batchRuns) console.log(`  ${run.name}: batch ≥ 20,000 events/s with p99 ≤ 100 ms: ${verdict(run.eventsPerSecond >= 20_000 && run.p99 <= 100 && clean(run))}`);
      for (const run of singleRuns) console.log(`  ${run.name}: single ≥ 3,000 events/s with p99 ≤ 30 ms: ${verdict(run.eventsPerSecond >= 3_000 && run.p99 <= 30 && clean(run))}`);
      console.log(`  the replay adds 0: ${verdict(unchanged)}`);
    } finally {
      api.stop();
    }
  } finally {
    await postgres.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

const databaseUrl = process.env.USAGE_BENCH_DATABASE_URL;
await (databaseUrl ? serveBenchApi(databaseUrl, 16) : main());
