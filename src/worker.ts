import { NativeConnection, Runtime } from '@temporalio/worker';
import { systemClock } from './clock.js';
import { loadConfigOrExit } from './config.js';
import { createOrm } from './db/orm.js';
import { startErpDispatcher } from './integrations/erp/dispatcher.js';
import { createStripeClient } from './integrations/stripe.js';
import { createLogger } from './logger.js';
import { createSecretBox } from './secrets.js';
import { createTemporalClient } from './temporal/client.js';
import { temporalLogger } from './temporal/logging.js';
import { ensureSchedules } from './temporal/schedules.js';
import { ensureSearchAttributes } from './temporal/search-attributes.js';
import { createWorker } from './temporal/worker.js';

const config = loadConfigOrExit(['DATABASE_URL', 'TEMPORAL_ADDRESS']);
const logger = createLogger(config, 'ledgerflow-worker');
Runtime.install({ logger: temporalLogger(logger) });

const orm = await createOrm(config.DATABASE_URL, config.DATABASE_POOL_MAX);
const connection = await NativeConnection.connect({ address: config.TEMPORAL_ADDRESS });
const worker = await createWorker({
  connection,
  namespace: config.TEMPORAL_NAMESPACE,
  taskQueue: config.TEMPORAL_TASK_QUEUE,
  deps: {
    orm,
    stripe: createStripeClient(config),
    clock: systemClock,
    logger,
    allowPrivateWebhookTargets: config.WEBHOOK_ALLOW_PRIVATE_TARGETS,
    secrets: createSecretBox(config.LEDGERFLOW_SECRET_KEYS),
  },
  shutdownGraceMs: config.SHUTDOWN_GRACE_MS,
  ...(config.WORKFLOW_BUNDLE_PATH ? { workflowBundle: { codePath: config.WORKFLOW_BUNDLE_PATH } } : {}),
});

const schedulesClient = createTemporalClient(config.TEMPORAL_ADDRESS, config.TEMPORAL_NAMESPACE);
await ensureSchedules(schedulesClient.client, config.TEMPORAL_TASK_QUEUE);
await ensureSearchAttributes(schedulesClient.connection, config.TEMPORAL_NAMESPACE, logger);
// The ERP outbox's dispatcher keeps this client: it starts `erp:` workflows for queued documents.
const erpDispatcher = startErpDispatcher({ orm, temporal: schedulesClient.client, taskQueue: config.TEMPORAL_TASK_QUEUE, logger });

// The SDK's runtime turns SIGINT/SIGTERM into a graceful shutdown: no new tasks are polled,
// in-flight activities get SHUTDOWN_GRACE_MS to finish, then run() resolves.
logger.info({ taskQueue: config.TEMPORAL_TASK_QUEUE, address: config.TEMPORAL_ADDRESS }, 'worker started');
try {
  await worker.run();
} finally {
  await erpDispatcher.stop();
  await schedulesClient.connection.close();
  await connection.close();
  await orm.close();
  logger.info('worker stopped');
}
