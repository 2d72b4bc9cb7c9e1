import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { bundleWorkflowCode, NativeConnection, Worker } from '@temporalio/worker';
import { pino } from 'pino';
import type Stripe from 'stripe';
import { createPaymentActivities } from '../../activities/payments.js';
import { systemClock } from '../../src/clock.js';
import type { Orm } from '../../src/db/orm.js';
import { sharedServer } from './servers.js';

const ignore = () => undefined;
const quietBundler = { trace: ignore, debug: ignore, info: ignore, log: ignore, warn: ignore, error: console.error };

export interface PaymentTestWorker {
  taskQueue: string;
  stop(): Promise<void>;
}

/**
 * A worker of its own task queue for test/support/payment-test-workflows.ts, with the real
 * payment activities over `orm` and `stripe`. Start it after the suite's test stack (which
 * installs the Temporal runtime).
 */
export async function startPaymentTestWorker(deps: { orm: Orm; stripe: Stripe }): Promise<PaymentTestWorker> {
  const bundle = await bundleWorkflowCode({ workflowsPath: fileURLToPath(new URL('./payment-test-workflows.ts', import.meta.url)), logger: quietBundler });
  const connection = await NativeConnection.connect({ address: sharedServer('temporalAddress') });
  const taskQueue = `payment-test-${randomUUID()}`;
  const worker = await Worker.create({
    connection,
    namespace: 'default',
    taskQueue,
    workflowBundle: { code: bundle.code },
    activities: createPaymentActivities({ ...deps, clock: systemClock, logger: pino({ level: process.env.LOG_LEVEL ?? 'silent' }) }),
  });
  const running = worker.run();
  return {
    taskQueue,
    stop: async () => {
      worker.shutdown();
      await running;
      await connection.close();
    },
  };
}
