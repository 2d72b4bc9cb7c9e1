/**
 * Loads 10,000 organizations with 100,000 assigned seats into an embedded PostgreSQL, serves the
 * API in a child process, and drives `POST /v1/seats/verify` with autocannon over loopback next to
 * the same server's `GET /healthz`. Prints requests/s, p50/p99 latency and the verify/healthz ratio.
 *
 *   node --import tsx bench/seats-verify.bench.ts [seconds per run] [connections]
 *
 * Target: ≥ 5,000 verifies/s with p99 ≤ 10 ms.
 */
import { fork } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { startEmbeddedPostgres } from '../scripts/lib/embedded-postgres.js';
import { freePort } from '../scripts/lib/ports.js';
import { serveBenchApi } from './support/api-process.js';
import { generateApiKey } from '../src/api/auth/api-keys.js';
import { createOrm, migrateUp } from '../src/db/orm.js';

const ORGANIZATIONS = 10_000;
const SEATS_PER_ORGANIZATION = 10;
const SECONDS = Number(process.argv[2] ?? 10);
const CONNECTIONS = Number(process.argv[3] ?? 16);
const APPLICATION_SLUG = 'bench-app';

async function load(databaseUrl: string): Promise<string> {
  const orm = await createOrm(databaseUrl, 2);
  await migrateUp(orm);
  const em = orm.em.fork();
  const started = performance.now();
  await em.execute(`insert into applications (id, slug, name, created_at) values (md5('app')::uuid, ?, 'Bench', now())`, [APPLICATION_SLUG]);
  await em.execute(`insert into plans (id, code, version, name, application_id, currency, interval, base_price, seat_price, included_seats, trial_days, created_at)
    values (md5('plan')::uuid, 'bench-seats', 1, 'Bench seats', md5('app')::uuid, 'USD', 'month', 0, 1000, 0, 0, now())`);
  await em.execute(`insert into organizations (id, name, currency, tax_rate_percent, payment_terms, net_terms_days, created_at, updated_at)
    select md5('org' || i)::uuid, 'Org ' || i, 'USD', 0, 'charge_automatically', 0, now(), now() from generate_series(1, ${ORGANIZATIONS}) i`);
  await em.execute(`insert into external_ids (id, organization_id, application_id, external_id, created_at)
    select gen_random_uuid(), md5('org' || i)::uuid, md5('app')::uuid, 'ext-' || i, now() from generate_series(1, ${ORGANIZATIONS}) i`);
  await em.execute(`insert into subscriptions (id, organization_id, application_id, plan_id, status, seats, start_date, trial_end,
      current_period_start, current_period_end, version, created_at, updated_at)
    select md5('sub' || i)::uuid, md5('org' || i)::uuid, md5('app')::uuid, md5('plan')::uuid, 'active', ${SEATS_PER_ORGANIZATION},
      date_trunc('day', now()), date_trunc('day', now()), date_trunc('day', now()), date_trunc('day', now()) + interval '1 month', 1, now(), now()
    from generate_series(1, ${ORGANIZATIONS}) i`);
  await em.execute(`insert into seat_assignments (id, subscription_id, user_id, assigned_by, assigned_at)
    select gen_random_uuid(), md5('sub' || i)::uuid, 'user-' || i || '-' || j, 'bench', now()
    from generate_series(1, ${ORGANIZATIONS}) i, generate_series(1, ${SEATS_PER_ORGANIZATION}) j`);
  // A product backend's key: platform-wide, verify only.
  const { key, hash, displayPrefix } = generateApiKey();
  await em.execute(`insert into api_keys (id, name, display_prefix, key_hash, scopes, platform_role, created_by, created_at)
    values (gen_random_uuid(), 'bench product', ?, ?, '{seats:verify}', 'platform_admin', 'bench', now())`, [displayPrefix, hash]);
  await em.execute('analyze');
  const [counts] = await em.execute<{ organizations: string; seats: string }[]>(
    'select (select count(*) from organizations) as organizations, (select count(*) from seat_assignments) as seats',
  );
  console.log(`loaded ${counts?.organizations} organizations and ${counts?.seats} assigned seats in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  await orm.close();
  return key;
}

const cpuMillis = (usage: NodeJS.CpuUsage) => (usage.user + usage.system) / 1000;

interface ApiProcess {
  port: number;
  cpuMillis: () => Promise<number>;
  stop: () => void;
}

function startApiProcess(databaseUrl: string): Promise<ApiProcess> {
  const child = fork(fileURLToPath(import.meta.url), [], { env: { ...process.env, SEATS_BENCH_DATABASE_URL: databaseUrl }, stdio: 'inherit' });
  const cpu = () =>
    new Promise<number>((resolve) => {
      const listen = (message: { cpu?: number }) => {
        if (message.cpu === undefined) return;
        child.off('message', listen);
        resolve(message.cpu);
      };
      child.on('message', listen);
      child.send('cpu');
    });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`API process exited with ${code}`)));
    child.once('message', (message: { port: number }) => resolve({ port: message.port, cpuMillis: cpu, stop: () => child.disconnect() }));
  });
}

/**
 * CPU time of the PostgreSQL server, from /proc: the postmaster (its own time and that of its
 * exited children) plus every live backend. The postmaster's pid is the first line of postmaster.pid.
 */
function postgresCpuMillis(dataDir: string): number {
  const postmaster = readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]!.trim();
  const ticksPerMs = 100 / 1000;
  let ticks = 0;
  for (const pid of readdirSync('/proc').filter((entry) => /^\d+$/.test(entry))) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    } catch {
      continue;
    }
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (pid === postmaster) ticks += Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14]);
    else if (fields[1] === postmaster) ticks += Number(fields[11]) + Number(fields[12]);
  }
  return ticks / ticksPerMs;
}

interface Measured {
  name: string;
  requests: number;
  /** CPU milliseconds per 1,000 requests, by process. */
  cpu: { api: number; loadGenerator: number; postgres: number };
  requestsPerSecond: number;
  p50: number;
  p99: number;
  non2xx: number;
  errors: number;
}

interface CpuMeters {
  api: () => Promise<number>;
  postgres: () => number;
}

async function drive(name: string, options: autocannon.Options, meters: CpuMeters): Promise<Measured> {
  const before = { api: await meters.api(), loadGenerator: cpuMillis(process.cpuUsage()), postgres: meters.postgres() };
  const result = await autocannon({ connections: CONNECTIONS, duration: SECONDS, ...options });
  const after = { api: await meters.api(), loadGenerator: cpuMillis(process.cpuUsage()), postgres: meters.postgres() };
  const perThousand = (key: keyof typeof before) => ((after[key] - before[key]) / result.requests.total) * 1000;
  return {
    name,
    requests: result.requests.total,
    cpu: { api: perThousand('api'), loadGenerator: perThousand('loadGenerator'), postgres: perThousand('postgres') },
    requestsPerSecond: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    non2xx: result.non2xx,
    errors: result.errors,
  };
}

/** Mostly assigned users (hasAccess true), one in six unassigned (not_assigned), across every organization. */
function verifyBody(): string {
  const organization = 1 + Math.floor(Math.random() * ORGANIZATIONS);
  const user = 1 + Math.floor(Math.random() * (SEATS_PER_ORGANIZATION + 2));
  return JSON.stringify({ userId: `user-${organization}-${user}`, applicationSlug: APPLICATION_SLUG, externalOrgId: `ext-${organization}` });
}

async function main(): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'ledgerflow-bench-'));
  const postgres = await startEmbeddedPostgres({ dataDir, port: await freePort(), persistent: false });
  try {
    await postgres.createDatabase('bench');
    const databaseUrl = postgres.urlFor('bench');
    const key = await load(databaseUrl);
    const api = await startApiProcess(databaseUrl);
    try {
      const base = `http://127.0.0.1:${api.port}`;
      const headers = { authorization: `Bearer ${key}`, 'content-type': 'application/json' };
      const probe = async (body: string) => (await fetch(`${base}/v1/seats/verify`, { method: 'POST', headers, body })).json();
      console.log('assigned:', JSON.stringify(await probe(JSON.stringify({ userId: 'user-42-3', applicationSlug: APPLICATION_SLUG, externalOrgId: 'ext-42' }))));
      console.log('unassigned:', JSON.stringify(await probe(JSON.stringify({ userId: 'user-42-11', applicationSlug: APPLICATION_SLUG, externalOrgId: 'ext-42' }))));
      const verify: autocannon.Options = {
        url: `${base}/v1/seats/verify`,
        // Built once and cycled through: a body built per request costs the load generator CPU the server shares.
        requests: Array.from({ length: 2_000 }, () => ({ method: 'POST' as const, headers, body: verifyBody() })),
      };
      const healthz: autocannon.Options = { url: `${base}/healthz` };
      const meters: CpuMeters = { api: api.cpuMillis, postgres: () => postgresCpuMillis(postgres.dataDir) };
      await drive('warm-up', { ...verify, duration: 3 }, meters);
      const results = [await drive('GET /healthz', healthz, meters), await drive('POST /v1/seats/verify', verify, meters)];
      console.log(`\n${SECONDS} s per run, ${CONNECTIONS} connections, loopback`);
      console.log('endpoint                  requests/s   p50 ms   p99 ms   non-2xx   errors');
      for (const result of results) {
        console.log(
          `${result.name.padEnd(24)}  ${result.requestsPerSecond.toFixed(0).padStart(10)}   ${String(result.p50).padStart(6)}   ${String(result.p99).padStart(6)}   ${String(result.non2xx).padStart(7)}   ${String(result.errors).padStart(6)}`,
        );
      }
      console.log('\nCPU ms per 1,000 requests     API process   load generator   PostgreSQL');
      for (const result of results) {
        console.log(
          `${result.name.padEnd(28)}  ${result.cpu.api.toFixed(0).padStart(11)}   ${result.cpu.loadGenerator.toFixed(0).padStart(14)}   ${result.cpu.postgres.toFixed(0).padStart(10)}`,
        );
      }
      const [health, verifies] = results as [Measured, Measured];
      console.log(`verify/healthz throughput ratio: ${(verifies.requestsPerSecond / health.requestsPerSecond).toFixed(2)}`);
      const met = verifies.requestsPerSecond >= 5_000 && verifies.p99 <= 10 && verifies.non2xx === 0 && verifies.errors === 0;
      console.log(`target (≥ 5,000 verifies/s, p99 ≤ 10 ms, no failures): ${met ? 'met' : 'NOT met'}`);
    } finally {
      api.stop();
    }
  } finally {
    await postgres.stop();
  }
}

const databaseUrl = process.env.SEATS_BENCH_DATABASE_URL;
await (databaseUrl ? serveBenchApi(databaseUrl, 10) : main());
