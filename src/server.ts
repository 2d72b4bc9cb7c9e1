import { serveApi } from './api/serve.js';
import { ApiKeyCredentialCache } from './api/auth/credential-cache.js';
import { listenForApiKeyChanges } from './db/repositories/api-keys.js';
import { dependencyChecks } from './api/routes/health.js';
import { systemClock } from './clock.js';
import { loadConfigOrExit } from './config.js';
import { createOrm } from './db/orm.js';
import { createStripeClient } from './integrations/stripe.js';
import { createLogger } from './logger.js';
import { createTemporalClient } from './temporal/client.js';

const config = loadConfigOrExit(['DATABASE_URL', 'TEMPORAL_ADDRESS']);
const logger = createLogger(config, 'ledgerflow-api');

const orm = await createOrm(config.DATABASE_URL, config.DATABASE_POOL_MAX);
const { client: temporal, connection } = createTemporalClient(config.TEMPORAL_ADDRESS, config.TEMPORAL_NAMESPACE);

const apiKeyCache = new ApiKeyCredentialCache();
const apiKeyListener = await listenForApiKeyChanges(config.DATABASE_URL, apiKeyCache, logger);

const server = serveApi(
  {
    config,
    orm,
    temporal,
    stripe: createStripeClient(config),
    clock: systemClock,
    logger,
    readiness: dependencyChecks(orm, connection),
    apiKeyCache,
  },
  { hostname: config.HOST, port: config.PORT },
  (info) => logger.info({ url: `http://${config.HOST}:${info.port}` }, 'api listening'),
);

let stopping = false;
async function shutdown(signal: string) {
  if (stopping) return;
  stopping = true;
  logger.info({ signal }, 'api stopping: no new connections, in-flight requests finish');
  const forced = setTimeout(() => {
    logger.warn('grace period over: closing remaining connections');
    if ('closeAllConnections' in server) server.closeAllConnections();
  }, config.SHUTDOWN_GRACE_MS);
  forced.unref();
  await new Promise<void>((resolve) => {
    server.close(() => resolve());
    if ('closeIdleConnections' in server) server.closeIdleConnections();
  });
  await apiKeyListener.close();
  await connection.close();
  await orm.close();
  logger.info('api stopped');
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => void shutdown(signal));
}
