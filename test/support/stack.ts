import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { ServerType } from '@hono/node-server';
import { NativeConnection, Runtime, type Worker } from '@temporalio/worker';
import pg from 'pg';
import { pino } from 'pino';
import type { ActivityDeps } from '../../activities/index.js';
import { serveApi } from '../../src/api/serve.js';
import { ApiKeyCredentialCache } from '../../src/api/auth/credential-cache.js';
import { listenForApiKeyChanges } from '../../src/db/repositories/api-keys.js';
import { dependencyChecks } from '../../src/api/routes/health.js';
import { systemClock, type Clock } from '../../src/clock.js';
import { createOrm, migrateUp, type Orm } from '../../src/db/orm.js';
import { startErpDispatcher } from '../../src/integrations/erp/dispatcher.js';
import { createStripeClient } from '../../src/integrations/stripe.js';
import { createSecretBox } from '../../src/secrets.js';
import { createTemporalClient, type TemporalClientHandle } from '../../src/temporal/client.js';
import { temporalLogger } from '../../src/temporal/logging.js';
import { createWorker } from '../../src/temporal/worker.js';
import type { HostResolver } from '../../src/webhooks/targets.js';
import { sharedServer } from './servers.js';

export const testAdminKey = 'lf_test_admin_key_0123456789abcdef0123456789';
export const testJwtSecret = 'ledgerflow-test-jwt-secret-0123456789abcdef';
/** The signing secret of the stack's Stripe webhook endpoint (sign test events with it). */
export const testStripeWebhookSecret = 'whsec_ledgerflow_test_0123456789abcdef';
/** The stack's LEDGERFLOW_SECRET_KEYS: one fixed test key (32 bytes). */
export const testSecretKeys = `t1:${Buffer.from('ledgerflow-test-secret-key-32b!!').toString('base64')}`;
const testSecretBox = createSecretBox(testSecretKeys);

export interface TestStack {
  /** Base URL of a real HTTP server in front of the app. */
  baseUrl: string;
  databaseUrl: string;
  orm: Orm;
  /** The API's in-process credential cache, to observe it. */
  apiKeyCache: ApiKeyCredentialCache;
  temporal: TemporalClientHandle['client'];
  taskQueue: string;
  /** Runs SQL against this suite's database directly, bypassing the ORM. */
  sql<T extends pg.QueryResultRow>(text: string, values?: unknown[]): Promise<T[]>;
  request(method: string, path: string, options?: { body?: unknown; headers?: Record<string, string> }): Promise<Response>;
  stop(): Promise<void>;
}

let runtimeInstalled = false;
/** One Temporal runtime per test file, logging through the suite's (normally silent) logger. */
function installTestRuntime(logger: pino.Logger) {
  if (runtimeInstalled) return;
  Runtime.install({ logger: temporalLogger(logger, 'WARN') });
  runtimeInstalled = true;
}

export interface SuiteDatabase {
  name: string;
  url: string;
  drop(): Promise<void>;
}

/** An empty database of this suite's own in the shared PostgreSQL. */
export async function createSuiteDatabase(): Promise<SuiteDatabase> {
  const admin = sharedServer('postgresUrl');
  const name = `suite_${randomUUID().replaceAll('-', '')}`;
  const client = new pg.Client({ connectionString: admin });
  await client.connect();
  await client.query(`create database ${client.escapeIdentifier(name)}`);
  await client.end();
  const url = new URL(admin);
  url.pathname = `/${name}`;
  return {
    name,
    url: url.toString(),
    drop: async () => {
      const client = new pg.Client({ connectionString: admin });
      await client.connect();
      await client.query(`drop database if exists ${client.escapeIdentifier(name)} with (force)`);
      await client.end();
    },
  };
}

/**
 * The real stack for one suite: its own database (migrated), its own task queue with a worker
 * polling it, and the API served over HTTP — the same pieces `npm start` runs.
 */
export async function startTestStack(
  options: {
    clock?: Clock;
    rateLimitPerMinute?: number;
    /** Failed authentications allowed per client address a minute (default: more than any suite sends from 127.0.0.1). */
    authFailureLimit?: number;
    /** Where the stack's logger writes (at `logLevel`, default `trace`), e.g. to capture lines. */
    logDestination?: pino.DestinationStream;
    logLevel?: pino.LevelWithSilent;
    /** Where the API's and the worker's Stripe clients send requests (default stripe-mock), e.g. a fault-injecting proxy. */
    stripeApiUrl?: string;
    /** The worker's webhook delivery retry schedule (tests use intervals of milliseconds). */
    webhookRetry?: ActivityDeps['webhookRetry'];
    /**
     * How long the API waits for a workflow's answer to an update (`WORKFLOW_UPDATE_TIMEOUT_MS`; default 30 s:
     * a whole suite on two cores can keep a workflow task waiting longer than production's 10 s).
     */
    workflowUpdateTimeoutMs?: number;
    /**
     * Whether webhook endpoints may be `http://` and private (`WEBHOOK_ALLOW_PRIVATE_TARGETS`; default
     * true, as in development: receivers listen on 127.0.0.1), and how the API and the worker resolve
     * their host names (default the system resolver).
     */
    webhookTargets?: { allowPrivate?: boolean; resolveHost?: HostResolver };
    /** Whether this process starts `erp:` workflows for queued documents (default true); off when a spawned worker does. */
    erpDispatcher?: boolean;
  } = {},
): Promise<TestStack> {
  const clock = options.clock ?? systemClock;
  const logger = options.logDestination
    ? pino({ level: options.logLevel ?? 'trace' }, options.logDestination)
    : pino({ level: process.env.LOG_LEVEL ?? 'silent' });
  installTestRuntime(logger);
  const database = await createSuiteDatabase();
  const orm = await createOrm(database.url, 5);
  await migrateUp(orm);

  const address = sharedServer('temporalAddress');
  const stripe = createStripeClient({ STRIPE_SECRET_KEY: 'sk_test_ledgerflow', STRIPE_API_URL: options.stripeApiUrl ?? sharedServer('stripeApiUrl') });
  const taskQueue = `suite-${randomUUID()}`;
  const { allowPrivate: allowPrivateWebhookTargets = true, resolveHost } = options.webhookTargets ?? {};
  const nativeConnection = await NativeConnection.connect({ address });
  const worker: Worker = await createWorker({
    connection: nativeConnection,
    namespace: 'default',
    taskQueue,
    deps: {
      orm,
      stripe,
      clock,
      logger,
      allowPrivateWebhookTargets,
      secrets: testSecretBox,
      ...(resolveHost ? { resolveHost } : {}),
      ...(options.webhookRetry ? { webhookRetry: options.webhookRetry } : {}),
    },
    shutdownGraceMs: 5_000,
    workflowBundle: { codePath: sharedServer('workflowBundle') },
  });
  const workerRun = worker.run();

  const { client: temporal, connection } = createTemporalClient(address, 'default');
  const erpDispatcher = options.erpDispatcher === false ? { stop: async () => undefined } : startErpDispatcher({ orm, temporal, taskQueue, logger, intervalMs: 200 });
  const apiKeyCache = new ApiKeyCredentialCache();
  const apiKeyListener = await listenForApiKeyChanges(database.url, apiKeyCache, logger);
  const deps = {
    config: {
      TEMPORAL_TASK_QUEUE: taskQueue,
      LEDGERFLOW_ADMIN_KEY: testAdminKey,
      JWT_HS256_SECRET: testJwtSecret,
      LEDGERFLOW_SECRET_KEYS: testSecretKeys,
      RATE_LIMIT_PER_MINUTE: options.rateLimitPerMinute ?? 100_000,
      WORKFLOW_UPDATE_TIMEOUT_MS: options.workflowUpdateTimeoutMs ?? 30_000,
      AUTH_FAILURE_LIMIT: options.authFailureLimit ?? 100_000,
      STRIPE_WEBHOOK_SECRET: testStripeWebhookSecret,
      WEBHOOK_ALLOW_PRIVATE_TARGETS: allowPrivateWebhookTargets,
    },
    orm,
    temporal,
    stripe,
    clock,
    logger,
    readiness: dependencyChecks(orm, connection),
    apiKeyCache,
    ...(resolveHost ? { resolveHost } : {}),
  };
  const server: ServerType = await new Promise((resolve) => {
    const started = serveApi(deps, { hostname: '127.0.0.1', port: 0 }, () => resolve(started));
  });
  const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const pool = new pg.Pool({ connectionString: database.url, max: 2 });
  // An idle connection the server closes (a restart, a terminated backend) is replaced on the next
  // query; unhandled, pg would throw it out of the suite as an 'error' event.
  pool.on('error', () => undefined);

  return {
    baseUrl,
    databaseUrl: database.url,
    orm,
    apiKeyCache,
    temporal,
    taskQueue,
    sql: async <T extends pg.QueryResultRow>(text: string, values?: unknown[]) => (await pool.query<T>(text, values)).rows,
    request: (method, path, { body, headers = {} } = {}) =>
      fetch(`${baseUrl}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${testAdminKey}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          ...headers,
        },
        ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
      }),
    stop: async () => {
      await new Promise((resolve) => server.close(resolve));
      await erpDispatcher.stop();
      worker.shutdown();
      await workerRun;
      await apiKeyListener.close();
      await connection.close();
      await nativeConnection.close();
      await pool.end();
      await orm.close();
      await database.drop();
    },
  };
}
