import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ApplicationFailure } from '@temporalio/common';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import type { BillingActivities } from '../../activities/billing.js';
import { billingStateQuery } from '../../workflows/messages.js';
import { sharedServer } from '../support/servers.js';

const testServer = fileURLToPath(new URL('../../.tools/bin/temporal-test-server', import.meta.url));

let env: TestWorkflowEnvironment;
beforeAll(async () => {
  // The retry test fails activities on purpose; only errors are worth printing.
  Runtime.install({ logger: new DefaultLogger('ERROR') });
  env = await TestWorkflowEnvironment.createTimeSkipping({
    server: { executable: { type: 'existing-path', path: testServer } },
  });
}, 120_000);
afterAll(async () => {
  await env?.teardown();
});

function workerWith(activities: Pick<BillingActivities, 'recordBillingCycleStarted'>, taskQueue: string) {
  return Worker.create({
    connection: env.nativeConnection,
    taskQueue,
    workflowBundle: { codePath: sharedServer('workflowBundle') },
    activities,
  });
}

describe('billingCycle in the time-skipping environment', () => {
  it('records its start once, answers its state query, and keeps waiting through a year', async () => {
    const recorded: string[] = [];
    const worker = await workerWith(
      {
        recordBillingCycleStarted: async (organizationId) => {
          recorded.push(organizationId);
          return '2027-01-01T00:00:00.000Z';
        },
      },
      'billing-year',
    );
    await worker.runUntil(async () => {
      const handle = await env.client.workflow.start('billingCycle', {
        workflowId: 'billing:org-1',
        taskQueue: 'billing-year',
        args: [{ organizationId: 'org-1' }],
      });
      await env.sleep('365 days');
      expect(await handle.query(billingStateQuery)).toMatchObject({ organizationId: 'org-1' });
      expect((await handle.describe()).status.name).toBe('RUNNING');
      expect(recorded).toEqual(['org-1']);
      await handle.terminate('test over');
    });
  });

  it('retries recording until the organization is visible (the API starts it just before commit)', async () => {
    let attempts = 0;
    const worker = await workerWith(
      {
        recordBillingCycleStarted: async (organizationId) => {
          attempts += 1;
          if (attempts < 3) throw ApplicationFailure.retryable(`organization ${organizationId} is not visible yet`, 'OrganizationNotFound');
          return '2027-01-01T00:00:00.000Z';
        },
      },
      'billing-retry',
    );
    await worker.runUntil(async () => {
      const handle = await env.client.workflow.start('billingCycle', {
        workflowId: 'billing:org-2',
        taskQueue: 'billing-retry',
        args: [{ organizationId: 'org-2' }],
      });
      await env.sleep('5 minutes');
      expect(attempts).toBe(3);
      await handle.terminate('test over');
    });
  });
});
