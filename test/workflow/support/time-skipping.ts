import { fileURLToPath } from 'node:url';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import { ensureSearchAttributes } from '../../../src/temporal/search-attributes.js';
import { sharedServer } from '../../support/servers.js';

const testServer = fileURLToPath(new URL('../../../.tools/bin/temporal-test-server', import.meta.url));

export interface TimeSkippingWorker {
  env: TestWorkflowEnvironment;
  /** Shuts the worker down and tears the test server down. */
  stop(): Promise<void>;
}

/**
 * Temporal's time-skipping test server, with the product's search attributes registered (the
 * workflows set them), and a worker on the shared workflow bundle serving `taskQueue` with
 * `activities` (fakes, as the test scripts them).
 */
export async function startTimeSkippingWorker(taskQueue: string, activities: object): Promise<TimeSkippingWorker> {
  Runtime.install({ logger: new DefaultLogger('ERROR') });
  const env = await TestWorkflowEnvironment.createTimeSkipping({ server: { executable: { type: 'existing-path', path: testServer } } });
  try {
    await ensureSearchAttributes(env.connection, 'default', { warn: (details: unknown) => console.warn(details) });
    const worker = await Worker.create({ connection: env.nativeConnection, taskQueue, workflowBundle: { codePath: sharedServer('workflowBundle') }, activities });
    const running = worker.run();
    return {
      env,
      stop: async () => {
        worker.shutdown();
        await running;
        await env.teardown();
      },
    };
  } catch (error) {
    await env.teardown();
    throw error;
  }
}
