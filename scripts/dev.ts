// `npm start`: brings the whole platform up on one machine — embedded PostgreSQL, the Temporal
// dev server with its UI, stripe-mock, migrations, the worker and the API — and stops it all on
// Ctrl-C. DATABASE_URL, TEMPORAL_ADDRESS and STRIPE_API_URL point at external servers instead.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Connection } from '@temporalio/client';
import temporalProtos from '@temporalio/proto';
import { loadConfigOrExit } from '../src/config.js';
import { createOrm, migrateUp } from '../src/db/orm.js';
import { generateSecretKeyEntry } from '../src/secrets.js';
import { startEmbeddedPostgres, type RunningPostgres } from './lib/embedded-postgres.js';
import { portAnswers, waitFor } from './lib/ports.js';
import { startStripeMock, type RunningStripeMock } from './lib/stripe-mock.js';
import { startTemporalDevServer, type RunningTemporal } from './lib/temporal-dev-server.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const config = loadConfigOrExit();
const dataDir = resolve(root, config.LEDGERFLOW_DATA_DIR);
mkdirSync(dataDir, { recursive: true });

const say = (line: string) => process.stdout.write(`[ledgerflow] ${line}\n`);
const quietLog = (name: string) => (line: string) => {
  if (/\b(error|fatal|panic)\b/i.test(line)) process.stderr.write(`[${name}] ${line}\n`);
};

async function ensurePortFree(port: number, variable: string) {
  if (await portAnswers(port)) {
    throw new Error(`port ${port} is already in use (another \`npm start\`?); stop it or set ${variable}`);
  }
}

/** `configured` when it is set, else the value kept in `.data/<file>` (generated there the first time). */
function developmentValue(configured: string | undefined, file: string, generate: () => string): string {
  if (configured) return configured;
  const path = join(dataDir, file);
  if (!existsSync(path)) writeFileSync(path, `${generate()}\n`, { mode: 0o600 });
  return readFileSync(path, 'utf8').trim();
}

/** The development admin key: LEDGERFLOW_ADMIN_KEY, else one generated once and kept in .data/. */
const developmentAdminKey = () => developmentValue(config.LEDGERFLOW_ADMIN_KEY, 'admin-key', () => `lf_admin_${randomBytes(32).toString('base64url')}`);

/** The development key that encrypts ERP credentials: LEDGERFLOW_SECRET_KEYS, else one generated once and kept in .data/. */
const developmentSecretKeys = () => developmentValue(config.LEDGERFLOW_SECRET_KEYS, 'secret-keys', () => generateSecretKeyEntry('dev1'));

/**
 * The development Stripe webhook signing secret: STRIPE_WEBHOOK_SECRET (e.g. the one `stripe listen`
 * prints), else one generated once and kept in .data/, to sign test events with.
 */
const developmentStripeWebhookSecret = () => developmentValue(config.STRIPE_WEBHOOK_SECRET, 'stripe-webhook-secret', () => `whsec_${randomBytes(32).toString('base64url')}`);

async function workerPolls(address: string, namespace: string, taskQueue: string): Promise<boolean> {
  const connection = await Connection.connect({ address });
  try {
    const { pollers } = await connection.workflowService.describeTaskQueue({
      namespace,
      taskQueue: { name: taskQueue },
      taskQueueType: temporalProtos.temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
    });
    return pollers.length > 0;
  } finally {
    await connection.close();
  }
}

interface Service {
  name: string;
  process: ChildProcess;
  exited: Promise<void>;
}

function spawnService(name: string, script: string, env: NodeJS.ProcessEnv): Service {
  const child = spawn(process.execPath, ['--import', 'tsx', script], { cwd: root, env, stdio: ['ignore', 'inherit', 'inherit'] });
  const exited = new Promise<void>((done) => child.once('exit', () => done()));
  return { name, process: child, exited };
}

let postgres: RunningPostgres | undefined;
let temporal: RunningTemporal | undefined;
let stripeMock: RunningStripeMock | undefined;
const services: Service[] = [];
let stopping = false;

async function stopAll(exitCode: number): Promise<never> {
  if (!stopping) {
    stopping = true;
    say('stopping: API and worker first (in-flight requests and activities finish), then the servers');
    for (const service of services) if (service.process.exitCode === null) service.process.kill('SIGTERM');
    await Promise.all(services.map((service) => service.exited));
    await stripeMock?.stop();
    await temporal?.stop();
    await postgres?.stop();
    say('stopped');
  }
  process.exit(exitCode);
}

async function main() {
  let databaseUrl = config.DATABASE_URL;
  if (!databaseUrl) {
    await ensurePortFree(config.EMBEDDED_POSTGRES_PORT, 'EMBEDDED_POSTGRES_PORT');
    say(`starting embedded PostgreSQL on 127.0.0.1:${config.EMBEDDED_POSTGRES_PORT}`);
    postgres = await startEmbeddedPostgres({
      dataDir: join(dataDir, 'postgres'),
      port: config.EMBEDDED_POSTGRES_PORT,
      persistent: true,
      onLog: quietLog('postgres'),
    });
    await postgres.createDatabase('ledgerflow');
    databaseUrl = postgres.urlFor('ledgerflow');
  }

  let temporalAddress = config.TEMPORAL_ADDRESS;
  if (!temporalAddress) {
    await ensurePortFree(config.TEMPORAL_DEV_PORT, 'TEMPORAL_DEV_PORT');
    await ensurePortFree(config.TEMPORAL_UI_PORT, 'TEMPORAL_UI_PORT');
    say(`starting the Temporal dev server on 127.0.0.1:${config.TEMPORAL_DEV_PORT} (UI on ${config.TEMPORAL_UI_PORT})`);
    temporal = await startTemporalDevServer({
      executable: 'temporal',
      port: config.TEMPORAL_DEV_PORT,
      uiPort: config.TEMPORAL_UI_PORT,
      dbFile: join(dataDir, 'temporal.db'),
      namespace: config.TEMPORAL_NAMESPACE,
      onLog: quietLog('temporal'),
    });
    temporalAddress = temporal.address;
  }

  let stripeApiUrl = config.STRIPE_API_URL;
  if (!stripeApiUrl) {
    await ensurePortFree(config.STRIPE_MOCK_PORT, 'STRIPE_MOCK_PORT');
    stripeMock = await startStripeMock({ executable: 'stripe-mock', port: config.STRIPE_MOCK_PORT, onLog: quietLog('stripe-mock') });
    stripeApiUrl = stripeMock.url;
  }

  say('applying database migrations');
  const orm = await createOrm(databaseUrl, 2);
  const applied = await migrateUp(orm);
  await orm.close();
  say(applied.length ? `applied ${applied.join(', ')}` : 'database schema is up to date');

  const adminKey = developmentAdminKey();
  const stripeWebhookSecret = developmentStripeWebhookSecret();
  const env = {
    ...process.env,
    DATABASE_URL: databaseUrl,
    TEMPORAL_ADDRESS: temporalAddress,
    STRIPE_API_URL: stripeApiUrl,
    LEDGERFLOW_ADMIN_KEY: adminKey,
    LEDGERFLOW_SECRET_KEYS: developmentSecretKeys(),
    STRIPE_WEBHOOK_SECRET: stripeWebhookSecret,
    // Development: webhook endpoints on this machine (http://127.0.0.1:…) receive deliveries.
    WEBHOOK_ALLOW_PRIVATE_TARGETS: process.env.WEBHOOK_ALLOW_PRIVATE_TARGETS || '1',
  };
  services.push(spawnService('worker', 'src/worker.ts', env), spawnService('api', 'src/server.ts', env));
  for (const service of services) {
    void service.exited.then(() => {
      if (!stopping) {
        process.stderr.write(`[ledgerflow] the ${service.name} exited unexpectedly (code ${service.process.exitCode})\n`);
        void stopAll(1);
      }
    });
  }

  const apiUrl = `http://${config.HOST === '0.0.0.0' ? '127.0.0.1' : config.HOST}:${config.PORT}`;
  await waitFor(
    'the API',
    async () => (await fetch(`${apiUrl}/readyz`).catch(() => undefined))?.status === 200,
    120_000,
  );
  await waitFor('the worker to poll its task queue', () => workerPolls(temporalAddress, config.TEMPORAL_NAMESPACE, config.TEMPORAL_TASK_QUEUE), 120_000);
  const rows: [string, string][] = [
    ['API', apiUrl],
    ['API docs', `${apiUrl}/docs   (OpenAPI document: ${apiUrl}/openapi.json)`],
    ['Temporal UI', temporal?.uiUrl ?? '(external Temporal: see its own UI)'],
    ['Temporal', `${temporalAddress}   namespace ${config.TEMPORAL_NAMESPACE}, task queue ${config.TEMPORAL_TASK_QUEUE}`],
    ['PostgreSQL', databaseUrl.replace(/\/\/([^:/]+):[^@]+@/, '//$1:***@')],
    ['Stripe API', stripeApiUrl + (stripeMock ? '   (stripe-mock)' : '')],
    ['Admin API key', config.LEDGERFLOW_ADMIN_KEY ? '(from LEDGERFLOW_ADMIN_KEY)' : `${adminKey}   (kept in ${join(config.LEDGERFLOW_DATA_DIR, 'admin-key')})`],
    [
      'Stripe webhook secret',
      config.STRIPE_WEBHOOK_SECRET
        ? '(from STRIPE_WEBHOOK_SECRET)'
        : `${stripeWebhookSecret}   (kept in ${join(config.LEDGERFLOW_DATA_DIR, 'stripe-webhook-secret')}; POST /v1/webhooks/stripe checks it)`,
    ],
  ];
  const width = Math.max(...rows.map(([label]) => label.length));
  process.stdout.write(
    `\nLedgerflow is up.\n${rows.map(([label, value]) => `  ${label.padEnd(width)}  ${value}`).join('\n')}\n\nCtrl-C stops everything.\n\n`,
  );
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => void stopAll(0));

main().catch(async (error: unknown) => {
  process.stderr.write(`[ledgerflow] start failed: ${error instanceof Error ? error.message : String(error)}\n`);
  await stopAll(1);
});
