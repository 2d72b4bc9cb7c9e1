import { pino } from 'pino';
import { serveApi } from '../../src/api/serve.js';
import { ApiKeyCredentialCache } from '../../src/api/auth/credential-cache.js';
import { listenForApiKeyChanges } from '../../src/db/repositories/api-keys.js';
import { systemClock } from '../../src/clock.js';
import { createOrm } from '../../src/db/orm.js';
import { createStripeClient } from '../../src/integrations/stripe.js';
import { createTemporalClient } from '../../src/temporal/client.js';

/** What a benchmark's API needs beyond its database: by default Temporal is a lazy client pointed nowhere. */
export interface BenchApiOptions {
  /** A Temporal server the API starts and updates workflows on (approvals). */
  temporalAddress?: string;
  taskQueue?: string;
  /** The bootstrap admin key and the HS256 secret of people's JWTs. */
  adminKey?: string;
  jwtSecret?: string;
}

/**
 * The body of a benchmark's API child process: the real app over the loaded database, served as
 * `npm start` serves it. Stripe, and Temporal unless `temporalAddress` names one, are lazy clients
 * pointed nowhere, so a benchmarked path that reached either would fail the run. Tells the parent
 * its port, answers `cpu` with this process's CPU milliseconds, and exits when the parent disconnects.
 */
export async function serveBenchApi(databaseUrl: string, poolMax: number, options: BenchApiOptions = {}): Promise<void> {
  const orm = await createOrm(databaseUrl, poolMax);
  const { client: temporal, connection } = createTemporalClient(options.temporalAddress ?? '127.0.0.1:1', 'default');
  const logger = pino({ level: 'silent' });
  const apiKeyCache = new ApiKeyCredentialCache();
  await listenForApiKeyChanges(databaseUrl, apiKeyCache, logger);
  const server = serveApi(
    {
      config: {
        TEMPORAL_TASK_QUEUE: options.taskQueue ?? 'bench',
        RATE_LIMIT_PER_MINUTE: 1_000_000,
        ...(options.adminKey ? { LEDGERFLOW_ADMIN_KEY: options.adminKey } : {}),
        ...(options.jwtSecret ? { JWT_HS256_SECRET: options.jwtSecret } : {}),
        WORKFLOW_UPDATE_TIMEOUT_MS: 30_000,
      },
      orm,
      temporal,
      stripe: createStripeClient({ STRIPE_SECRET_KEY: 'sk_test_bench', STRIPE_API_URL: 'http://127.0.0.1:1' }),
      clock: systemClock,
      logger,
      readiness: {},
      apiKeyCache,
    },
    { hostname: '127.0.0.1', port: 0 },
    (info) => process.send?.({ port: info.port }),
  );
  process.on('message', (message: string) => {
    if (message !== 'cpu') return;
    const usage = process.cpuUsage();
    process.send?.({ cpu: (usage.user + usage.system) / 1000 });
  });
  process.on('disconnect', () => {
    server.close();
    void Promise.all([orm.close(), connection.close()]).then(() => process.exit(0));
  });
}
