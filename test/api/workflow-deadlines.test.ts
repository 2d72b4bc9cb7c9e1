import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startTestStack, type TestStack } from '../support/stack.js';
import { expectProblem } from './support/problems.js';
import { call, createCatalog, unique } from './support/world.js';

const deadlineMs = 1_000;

let stack: TestStack;
/** A task queue no worker polls: a workflow started there never answers an update. */
const unserved = `unserved-${randomUUID()}`;
const parked: string[] = [];

beforeAll(async () => {
  stack = await startTestStack({ workflowUpdateTimeoutMs: deadlineMs });
});
afterAll(async () => {
  for (const workflowId of parked) await stack.temporal.workflow.getHandle(workflowId).terminate('test over');
  await stack.stop();
});

/** Replaces a workflow by one of the same id that nothing runs, as when every worker is down or wedged. */
async function park(workflowId: string, workflowType: string) {
  await stack.temporal.workflow.getHandle(workflowId).terminate('parked by the test');
  await stack.temporal.workflow.start(workflowType, { workflowId, taskQueue: unserved, args: [] });
  parked.push(workflowId);
}

/** Connections of this suite's database sitting in an open transaction (other than this query's own). */
async function idleInTransaction(): Promise<number> {
  const [row] = await stack.sql<{ count: string }>(
    "select count(*) from pg_stat_activity where datname = current_database() and state like 'idle in transaction%' and pid <> pg_backend_pid()",
  );
  return Number(row?.count);
}

describe('updates sent to workflows have a deadline', () => {
  it('answers a run whose billing workflow does not answer with 504 timeout naming where to look, holding no transaction meanwhile', async () => {
    const organization = await call<{ id: string }>(stack, 'POST', '/v1/organizations', { body: { name: unique('unanswered'), currency: 'USD' } });
    const workflowId = `billing:${organization.id}`;
    await park(workflowId, 'billingCycle');
    const started = Date.now();
    const answer = stack.request('POST', `/v1/organizations/${organization.id}/invoices/run`);
    await new Promise((resolve) => setTimeout(resolve, deadlineMs / 2));
    // While the request waits on Temporal, no pooled connection is held in a transaction.
    expect(await idleInTransaction()).toBe(0);
    const problem = await expectProblem(await answer, 504, 'timeout');
    expect(Date.now() - started).toBeGreaterThanOrEqual(deadlineMs);
    expect(Date.now() - started).toBeLessThan(deadlineMs + 3_000);
    expect(problem.details).toEqual({ workflowId, location: `/v1/invoices?organizationId=${organization.id}` });
    expect(problem.detail).toContain(`GET /v1/invoices?organizationId=${organization.id}`);
    expect(await stack.sql("select id from audit_events where action = 'invoice.run' and organization_id = $1", [organization.id])).toEqual([]);
  });

  it('answers a subscription change the workflow does not answer with 504 timeout, naming the update a retry with the same key waits for', async () => {
    const catalog = await createCatalog(stack);
    const organization = await call<{ id: string }>(stack, 'POST', '/v1/organizations', { body: { name: unique('paused'), currency: 'USD' } });
    const subscription = await call<{ id: string }>(stack, 'POST', '/v1/subscriptions', { body: { organizationId: organization.id, planCode: catalog.planCode } });
    const workflowId = `subscription:${subscription.id}`;
    await park(workflowId, 'subscriptionLifecycle');
    const key = unique('pause');
    const response = await stack.request('POST', `/v1/subscriptions/${subscription.id}/pause`, { headers: { 'idempotency-key': key } });
    const problem = await expectProblem(response, 504, 'timeout');
    expect(problem.details).toEqual({ workflowId, location: `/v1/subscriptions/${subscription.id}`, updateId: `bootstrap:${key}` });
    expect(await stack.sql("select id from audit_events where action = 'subscription.paused' and target_id = $1", [subscription.id])).toEqual([]);
  });
});
