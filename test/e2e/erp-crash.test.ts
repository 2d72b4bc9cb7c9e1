/**
 * An `erp:` push survives its worker being SIGKILLed mid-push, for each connector. The workflows
 * run on a task queue served only by a real worker process (`src/worker.ts`, which also runs the
 * outbox dispatcher). The invoice's request is held at the mock vendor; the worker is killed; the
 * vendor then stores the invoice and answers a dead connection. A new worker retries the attempt
 * (Temporal notices the missing heartbeats), reconciles first, and finds the invoice: the ERP
 * holds it exactly once.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { ErpProvider } from '../../src/domain/index.js';
import { insertFinalizedInvoice } from '../api/support/collection.js';
import { erpFixtures, erpProviderNames, holdsValue, invoiceWrite } from '../api/support/erp.js';
import { call, unique } from '../api/support/world.js';
import { startErpMock, type ErpMock } from '../support/erp-mock/server.js';
import { sharedServer } from '../support/servers.js';
import { startTestStack, testSecretKeys, type TestStack } from '../support/stack.js';
import { eventually } from '../workflow/support/subscriptions.js';
import { spawnWorker, type WorkerProcess } from '../support/worker-process.js';

let stack: TestStack;
const taskQueue = `erp-crash-${randomUUID()}`;
const workerStderr: string[] = [];
let worker: WorkerProcess | undefined;

function startWorker() {
  worker = spawnWorker(
    {
      DATABASE_URL: stack.databaseUrl,
      DATABASE_POOL_MAX: '4',
      TEMPORAL_ADDRESS: sharedServer('temporalAddress'),
      TEMPORAL_TASK_QUEUE: taskQueue,
      WORKFLOW_BUNDLE_PATH: sharedServer('workflowBundle'),
      LEDGERFLOW_SECRET_KEYS: testSecretKeys,
    },
    workerStderr,
  );
}

async function killWorker() {
  await worker?.kill();
  worker = undefined;
}

beforeAll(async () => {
  // The spawned worker's dispatcher starts the `erp:` workflows, on its own queue.
  stack = await startTestStack({ erpDispatcher: false });
  startWorker();
}, 120_000);
afterAll(async () => {
  await killWorker();
  await stack?.stop();
});

describe.each(erpProviderNames)('%s: the worker SIGKILLed mid-push', (provider: ErpProvider) => {
  let mock: ErpMock;
  beforeAll(async () => {
    mock = await startErpMock(erpFixtures[provider].vendor);
  });
  afterAll(async () => {
    await mock?.close();
  });

  it('a new worker reconciles and the ERP holds the invoice once', async () => {
    const fixture = erpFixtures[provider];
    const organization = await call<{ id: string }>(stack, 'POST', '/v1/organizations', { body: { name: unique('crash'), currency: 'USD' } });
    const integration = await call<{ id: string }>(stack, 'POST', '/v1/integrations', {
      body: { provider, name: 'crash', organizationId: organization.id, credentials: fixture.credentials, settings: { ...fixture.settings(mock), timeoutMs: 5_000 } },
      expect: 201,
    });
    await call(stack, 'PUT', `/v1/integrations/${integration.id}/gl-mappings`, { body: { mappings: fixture.glMappings }, expect: 200 });
    const hold = mock.hold(invoiceWrite);
    const invoiceId = await insertFinalizedInvoice(stack, { organizationId: organization.id, subtotal: 7_500 });
    await call(stack, 'POST', `/v1/integrations/${integration.id}/sync`, { body: { documentTypes: ['invoice'] }, expect: 202 });
    await hold.reached;
    await killWorker();
    // The ERP carries out the push its caller no longer waits for.
    hold.release();
    await eventually(async () => (mock.requests.some((request) => invoiceWrite(request) && request.status === 0) || fixture.documentsOf(mock, 'invoice').length > 0 ? true : undefined), 10_000);
    startWorker();

    const entry = await eventually(async () => {
      const [row] = await stack.sql<{ status: string; external_id: string | null; attempts: number }>(
        `select status, external_id, attempts from erp_sync_documents where integration_id = $1 and document_type = 'invoice' and document_id = $2`,
        [integration.id, invoiceId],
      );
      return row?.status === 'synced' ? row : undefined;
    }, 90_000);
    expect(entry.attempts).toBe(2);
    const outcomes = (await stack.sql<{ outcome: string }>('select outcome from erp_sync_attempts where integration_id = $1 and document_id = $2 order by id', [integration.id, invoiceId])).map((row) => row.outcome);
    // The killed attempt left no outcome; the second found the invoice (Business Central: found its draft and posted it).
    expect(outcomes).toEqual([provider === 'dynamics365' ? 'synced' : 'reconciled']);
    expect(fixture.documentsOf(mock, 'invoice').filter((document) => holdsValue(document, entry.external_id!))).toHaveLength(1);
    expect(fixture.documentsOf(mock, 'invoice')).toHaveLength(1);
    expect(mock.schemaViolations).toEqual([]);
  }, 150_000);
});
