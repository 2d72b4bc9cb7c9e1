/**
 * Approval decisions through the API, end to end: an embedded PostgreSQL, a Temporal dev server,
 * the real worker (in this process) and the API in a child process, with people as JWTs. Opens
 * manual approval requests (one rule: one level, role `finance`, quorum 1) as the organization's
 * OWNER, then decides half of them one at a time (`POST /v1/approval-requests/{id}/decisions`) and
 * half in bulks of 100 (`POST /v1/approval-requests/bulk-decisions`) as a finance person. Prints
 * decisions/s, p50/p99 from the API call until `GET /v1/approval-requests/{id}` reads `approved`
 * (single), p50/p99 of a bulk call and until all of its requests read `approved`, each next to the
 * same machine's plain workflow-update round trip (bench/support/update-round-trip-workflow.ts: a
 * no-op update behind an accepting validator, one at a time, and 100 at the bulk route's
 * concurrency) as ratios.
 *
 *   node --import tsx bench/approvals.bench.ts [requests, default 1000]
 *
 * Targets: a bulk decision of 100 answers in ≤ 2 s p99; a single decision is visible in ≤ 200 ms p99.
 */
import { fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundleWorkflowCode, DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { SignJWT } from 'jose';
import { pino } from 'pino';
import { startEmbeddedPostgres } from '../scripts/lib/embedded-postgres.js';
import { freePort } from '../scripts/lib/ports.js';
import { startTemporalDevServer } from '../scripts/lib/temporal-dev-server.js';
import { systemClock } from '../src/clock.js';
import { createOrm, migrateUp } from '../src/db/orm.js';
import { createStripeClient } from '../src/integrations/stripe.js';
import { createTemporalClient } from '../src/temporal/client.js';
import { createWorker } from '../src/temporal/worker.js';
import { serveBenchApi } from './support/api-process.js';
import { noopUpdate } from './support/update-round-trip-workflow.js';
import { percentile, pool, sleep } from './support/measure.js';

const REQUESTS = Number(process.argv[2] ?? 1_000);
const BULK_SIZE = 100;
/** How many updates the baseline's bulk has in flight at once: as many as the bulk route decides at once. */
const BULK_CONCURRENCY = 16;
/** Requests decided (half one by one, half in one bulk) before measuring: the first workflow tasks load the bundle into the worker's isolates. */
const WARM_UP = 20;
const CREATORS = 16;
const TASK_QUEUE = 'approvals-bench';
const BASELINE_TASK_QUEUE = 'approvals-bench-baseline';
const ORGANIZATION_ID = '00000000-0000-4000-8000-00000000a001';
const REQUESTER = 'bench-owner';
const DECIDER = 'bench-finance';
const TARGET_BULK_P99_MS = 2_000;
const TARGET_SINGLE_P99_MS = 200;



/** Waits until the worker has had no workflow activation and no activity in flight for a whole second. */
async function untilIdle(worker: Worker): Promise<void> {
  for (let idleSince = performance.now(); performance.now() - idleSince < 1_000; await sleep(50)) {
    const status = worker.getStatus();
    if (status.numInFlightWorkflowActivations > 0 || status.numInFlightActivities > 0) idleSince = performance.now();
  }
}

function chunks<T>(items: readonly T[], size: number): T[][] {
  return Array.from({ length: Math.ceil(items.length / size) }, (_, index) => items.slice(index * size, (index + 1) * size));
}

interface ApiChildEnv {
  APPROVALS_BENCH_DATABASE_URL: string;
  APPROVALS_BENCH_TEMPORAL_ADDRESS: string;
  APPROVALS_BENCH_ADMIN_KEY: string;
  APPROVALS_BENCH_JWT_SECRET: string;
}

function startApiProcess(env: ApiChildEnv): Promise<{ port: number; stop: () => void }> {
  const child = fork(fileURLToPath(import.meta.url), [], { env: { ...process.env, ...env }, stdio: 'inherit' });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`API process exited with ${code}`)));
    child.once('message', (message: { port: number }) => resolve({ port: message.port, stop: () => child.disconnect() }));
  });
}

function jwtFor(secret: string, userId: string, platformRole?: 'finance'): Promise<string> {
  return new SignJWT(platformRole ? { platform_role: platformRole } : {})
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(userId)
    .setIssuedAt()
    .setExpirationTime('2h')
    .sign(new TextEncoder().encode(secret));
}

interface ApprovalRequestBody {
  id: string;
  status: string;
}

/** The API over loopback: each call insists on a 2xx and returns the JSON body. */
function apiClient(baseUrl: string) {
  return async <T>(method: string, path: string, token: string, body?: unknown): Promise<T> => {
    const response = await fetch(`${baseUrl}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await response.text();
    if (!response.ok) throw new Error(`${method} ${path} answered ${response.status}: ${text}`);
    return JSON.parse(text) as T;
  };
}

function line(name: string, count: number, seconds: number, latencies: number[], unit = 'decisions/s') {
  const sorted = [...latencies].sort((a, b) => a - b);
  console.log(
    `  ${name.padEnd(58)} ${(count / seconds).toFixed(0).padStart(6)} ${unit}   p50 ${percentile(sorted, 50).toFixed(1)} ms   p99 ${percentile(sorted, 99).toFixed(1)} ms`,
  );
  return { perSecond: count / seconds, p50: percentile(sorted, 50), p99: percentile(sorted, 99) };
}

async function main(): Promise<void> {
  Runtime.install({ logger: new DefaultLogger('ERROR') });
  const adminKey = `lf_bench_admin_${randomBytes(24).toString('hex')}`;
  const jwtSecret = randomBytes(32).toString('hex');
  const [postgres, temporalServer, baselineBundle] = await Promise.all([
    freePort().then((port) => startEmbeddedPostgres({ dataDir: mkdtempSync(join(tmpdir(), 'ledgerflow-bench-')), port, persistent: false })),
    freePort().then((port) => startTemporalDevServer({ executable: fileURLToPath(new URL('../.tools/bin/temporal', import.meta.url)), port })),
    bundleWorkflowCode({ workflowsPath: fileURLToPath(new URL('./support/update-round-trip-workflow.ts', import.meta.url)), logger: new DefaultLogger('ERROR') }),
  ]);
  try {
    await postgres.createDatabase('bench');
    const databaseUrl = postgres.urlFor('bench');
    const orm = await createOrm(databaseUrl, 10);
    await migrateUp(orm);
    await orm.em.fork().execute(
      `insert into organizations (id, name, currency, tax_rate_percent, payment_terms, net_terms_days, created_at, updated_at)
       values (?, 'Bench approvals', 'USD', 0, 'charge_automatically', 0, now(), now())`,
      [ORGANIZATION_ID],
    );

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
      },
    });
    const baselineWorker = await Worker.create({ connection, namespace: 'default', taskQueue: BASELINE_TASK_QUEUE, workflowBundle: { code: baselineBundle.code } });
    const workerRuns = [worker.run(), baselineWorker.run()];
    const { client: temporal, connection: clientConnection } = createTemporalClient(temporalServer.address, 'default');
    const api = await startApiProcess({
      APPROVALS_BENCH_DATABASE_URL: databaseUrl,
      APPROVALS_BENCH_TEMPORAL_ADDRESS: temporalServer.address,
      APPROVALS_BENCH_ADMIN_KEY: adminKey,
      APPROVALS_BENCH_JWT_SECRET: jwtSecret,
    });
    try {
      const call = apiClient(`http://127.0.0.1:${api.port}`);
      const [owner, financePerson] = await Promise.all([jwtFor(jwtSecret, REQUESTER), jwtFor(jwtSecret, DECIDER, 'finance')]);
      await call('POST', `/v1/organizations/${ORGANIZATION_ID}/members`, adminKey, { userId: REQUESTER, role: 'OWNER' });
      await call('POST', '/v1/approval-rules', adminKey, {
        name: 'Bench: finance decides manual requests',
        subjectType: 'manual',
        organizationId: ORGANIZATION_ID,
        levels: [{ role: 'finance', quorum: 1 }],
      });

      const total = REQUESTS + WARM_UP;
      const ids: string[] = [];
      const createStarted = performance.now();
      await pool(total, CREATORS, async (index) => {
        const created = await call<ApprovalRequestBody>('POST', '/v1/approval-requests', owner, {
          organizationId: ORGANIZATION_ID,
          subjectType: 'manual',
          title: `Bench purchase ${index}`,
          amount: 10_000 + index,
          currency: 'USD',
        });
        if (created.status !== 'pending') throw new Error(`request ${created.id} opened ${created.status}, not pending`);
        ids.push(created.id);
      });
      const createSeconds = (performance.now() - createStarted) / 1000;
      console.log(`opened ${total} manual requests (${CREATORS} at a time) in ${createSeconds.toFixed(1)} s (${(total / createSeconds).toFixed(0)}/s)`);
      // Each opening's workflow confirms its row after the API answered: measure once the worker has caught up, not against that backlog.
      const drainStarted = performance.now();
      await untilIdle(worker);
      console.log(`the worker finished the openings' workflow tasks ${((performance.now() - drainStarted) / 1000).toFixed(1)} s later`);

      /** Reads the request until it is approved; anything else but pending is a failure of the run. */
      const untilApproved = async (id: string) => {
        for (;;) {
          const { status } = await call<ApprovalRequestBody>('GET', `/v1/approval-requests/${id}`, financePerson);
          if (status === 'approved') return;
          if (status !== 'pending') throw new Error(`request ${id} is ${status}, not approved`);
          await sleep(2);
        }
      };
      const decideOne = async (id: string) => {
        const started = performance.now();
        await call('POST', `/v1/approval-requests/${id}/decisions`, financePerson, { decision: 'approve' });
        const answered = performance.now();
        await untilApproved(id);
        return { call: answered - started, visible: performance.now() - started };
      };
      const decideBulk = async (batch: readonly string[]) => {
        const started = performance.now();
        const { results } = await call<{ results: { id: string; status: string; error?: { code: string } }[] }>('POST', '/v1/approval-requests/bulk-decisions', financePerson, {
          ids: batch,
          decision: 'approve',
        });
        const answered = performance.now();
        const refused = results.filter((result) => result.error || result.status !== 'approved');
        if (results.length !== batch.length || refused.length > 0) throw new Error(`bulk of ${batch.length}: ${results.length} results, ${refused.length} not approved (${JSON.stringify(refused[0])})`);
        for (const id of batch) await untilApproved(id);
        return { call: answered - started, visible: performance.now() - started };
      };

      const warmUp = ids.slice(0, WARM_UP);
      for (const id of warmUp.slice(0, WARM_UP / 2)) await decideOne(id);
      await decideBulk(warmUp.slice(WARM_UP / 2));
      const measured = ids.slice(WARM_UP);
      const singles = measured.slice(0, Math.ceil(measured.length / 2));
      const bulks = chunks(measured.slice(singles.length), BULK_SIZE);

      const singleStarted = performance.now();
      const single: { call: number; visible: number }[] = [];
      for (const id of singles) single.push(await decideOne(id));
      const singleSeconds = (performance.now() - singleStarted) / 1000;

      const bulkStarted = performance.now();
      const bulk: { call: number; visible: number }[] = [];
      for (const batch of bulks) bulk.push(await decideBulk(batch));
      const bulkSeconds = (performance.now() - bulkStarted) / 1000;
      const bulkDecisions = bulks.reduce((sum, batch) => sum + batch.length, 0);

      // The baseline: one trivial workflow per update, as each decision goes to a request of its own.
      const baselineIds = Array.from({ length: singles.length + bulkDecisions }, (_, index) => `round-trip:${index}`);
      await pool(baselineIds.length, CREATORS, async (index) => {
        await temporal.workflow.start('updateRoundTrip', { workflowId: baselineIds[index]!, taskQueue: BASELINE_TASK_QUEUE });
      });
      const update = async (workflowId: string) => {
        const started = performance.now();
        await temporal.workflow.getHandle(workflowId).executeUpdate(noopUpdate);
        return performance.now() - started;
      };
      for (const workflowId of baselineIds.slice(0, 10)) await update(workflowId);
      const baselineSingleStarted = performance.now();
      const baselineSingle: number[] = [];
      for (const workflowId of baselineIds.slice(0, singles.length)) baselineSingle.push(await update(workflowId));
      const baselineSingleSeconds = (performance.now() - baselineSingleStarted) / 1000;
      const baselineBulkStarted = performance.now();
      const baselineBulk: number[] = [];
      for (const batch of chunks(baselineIds.slice(singles.length), BULK_SIZE)) {
        const started = performance.now();
        await pool(batch.length, BULK_CONCURRENCY, async (index) => void (await update(batch[index]!)));
        baselineBulk.push(performance.now() - started);
      }
      const baselineBulkSeconds = (performance.now() - baselineBulkStarted) / 1000;

      const [counted] = await orm.em.fork().execute<{ approved: string; executed: string }[]>(
        `select count(*) filter (where status = 'approved') as approved, count(*) filter (where execution->>'status' = 'executed') as executed from approval_requests`,
      );

      console.log(`\nsingle: ${singles.length} decisions one at a time (POST …/decisions, then GET …/{id} until it reads approved)`);
      const singleVisible = line('API call → GET reads approved', singles.length, singleSeconds, single.map((each) => each.visible));
      line('  of which the decision call', singles.length, singleSeconds, single.map((each) => each.call));
      const updateSingle = line('baseline: no-op workflow update, one at a time', singles.length, baselineSingleSeconds, baselineSingle, 'updates/s  ');
      console.log(`\nbulk: ${bulks.length} × ≤ ${BULK_SIZE} (POST /bulk-decisions; the baseline ${BULK_CONCURRENCY} updates at a time)`);
      const bulkCall = line('bulk call', bulkDecisions, bulkSeconds, bulk.map((each) => each.call));
      line('bulk call → every request reads approved', bulkDecisions, bulkSeconds, bulk.map((each) => each.visible));
      const updateBulk = line(`baseline: ${BULK_SIZE} no-op workflow updates`, bulkDecisions, baselineBulkSeconds, baselineBulk, 'updates/s  ');
      console.log(
        `\nratios to the plain update round trip: single p50 ${(singleVisible.p50 / updateSingle.p50).toFixed(1)}×, p99 ${(singleVisible.p99 / updateSingle.p99).toFixed(1)}×, ` +
          `decisions/s ${((singleVisible.perSecond / updateSingle.perSecond) * 100).toFixed(0)} % of updates/s; ` +
          `bulk p99 ${(bulkCall.p99 / updateBulk.p99).toFixed(1)}×, decisions/s ${((bulkCall.perSecond / updateBulk.perSecond) * 100).toFixed(0)} % of updates/s`,
      );
      console.log(`database: ${counted?.approved} of ${total} requests approved, ${counted?.executed} executed (load average ${loadavg()[0]!.toFixed(1)})`);
      console.log(
        `targets: bulk of ${BULK_SIZE} p99 ≤ ${TARGET_BULK_P99_MS} ms: ${bulkCall.p99 <= TARGET_BULK_P99_MS ? 'met' : 'NOT met'} (${bulkCall.p99.toFixed(0)} ms); ` +
          `single visible p99 ≤ ${TARGET_SINGLE_P99_MS} ms: ${singleVisible.p99 <= TARGET_SINGLE_P99_MS ? 'met' : 'NOT met'} (${singleVisible.p99.toFixed(0)} ms)`,
      );
    } finally {
      api.stop();
      worker.shutdown();
      baselineWorker.shutdown();
      await Promise.all(workerRuns);
      await clientConnection.close();
      await connection.close();
      await orm.close();
    }
  } finally {
    await temporalServer.stop();
    await postgres.stop();
  }
}

const childEnv = process.env as Partial<ApiChildEnv>;
await (childEnv.APPROVALS_BENCH_DATABASE_URL
  ? serveBenchApi(childEnv.APPROVALS_BENCH_DATABASE_URL, 10, {
      temporalAddress: childEnv.APPROVALS_BENCH_TEMPORAL_ADDRESS,
      taskQueue: TASK_QUEUE,
      adminKey: childEnv.APPROVALS_BENCH_ADMIN_KEY,
      jwtSecret: childEnv.APPROVALS_BENCH_JWT_SECRET,
    })
  : main());
