/**
 * `erp:<integrationId>:<type>:<id>` in the time-skipping server, its push faked by a script of
 * outcomes: the workflow sleeps exactly the delay each retrying attempt names, looks again for a
 * dependency on a doubling interval, fails a document whose push keeps throwing, and ends on the
 * first synced, failed or stopped outcome. The recorded histories replay.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { createErpActivities } from '../../activities/erp.js';
import type { erpSync } from '../../workflows/erp-sync.js';
import { erpSearchAttributes, type ErpPushOutcome, type ErpSyncInput } from '../../workflows/messages/erp.js';
import { recordHistory } from './support/subscriptions.js';
import { startTimeSkippingWorker, type TimeSkippingWorker } from './support/time-skipping.js';

const taskQueue = 'erp-sync';

let env: TestWorkflowEnvironment;
let temporal: TimeSkippingWorker;

type ErpActivities = ReturnType<typeof createErpActivities>;
/** Per document: the outcomes its attempts return in turn (an Error is thrown), and when each attempt ran (workflow time). */
const scripts = new Map<string, { outcomes: (ErpPushOutcome | Error)[]; calls: number[]; failed: string[] }>();

const activities: ErpActivities = {
  async pushErpDocument(input: ErpSyncInput) {
    const script = scripts.get(input.documentId)!;
    script.calls.push(await env.currentTimeMs());
    const next = script.outcomes.length > 1 ? script.outcomes.shift()! : script.outcomes[0]!;
    if (next instanceof Error) throw next;
    return next;
  },
  async failErpDocument(input: ErpSyncInput, error: string) {
    scripts.get(input.documentId)!.failed.push(error);
    return { status: 'failed', error };
  },
};

beforeAll(async () => {
  temporal = await startTimeSkippingWorker(taskQueue, activities);
  env = temporal.env;
}, 120_000);
afterAll(async () => {
  await temporal?.stop();
});

async function run(documentId: string, outcomes: (ErpPushOutcome | Error)[]) {
  scripts.set(documentId, { outcomes: [...outcomes], calls: [], failed: [] });
  const input: ErpSyncInput = { integrationId: 'integration-1', documentType: 'invoice', documentId };
  const handle = await env.client.workflow.start<typeof erpSync>('erpSync', {
    workflowId: `erp:integration-1:invoice:${documentId}`,
    taskQueue,
    args: [input],
    typedSearchAttributes: [{ key: erpSearchAttributes.status, value: 'pending' }],
  });
  const result = await handle.result();
  const script = scripts.get(documentId)!;
  const gaps = script.calls.slice(1).map((at, index) => at - script.calls[index]!);
  return { handle, result, gaps, script };
}

describe('erp: one document', () => {
  it('retries after the delay each attempt names, then ends synced', async () => {
    const { handle, result, gaps } = await run('doc-retried', [
      { status: 'retrying', delayMs: 1_000, error: '500: injected' },
      { status: 'retrying', delayMs: 7_000, error: 'rate limited (429)' },
      { status: 'synced', externalId: 'ext-1' },
    ]);
    expect(result).toEqual({ status: 'synced', externalId: 'ext-1' });
    expect(gaps.map((gap) => Math.round(gap / 1_000))).toEqual([1, 7]);
    expect((await handle.describe()).typedSearchAttributes.get(erpSearchAttributes.status)).toBe('synced');
    await recordHistory('erp-retried-then-synced', handle);
  });

  it('waits for its dependency on a doubling interval, capped at 15 s', async () => {
    const waiting: ErpPushOutcome = { status: 'waiting', dependency: { documentType: 'customer', documentId: 'org-1' } };
    const { result, gaps, handle } = await run('doc-waiting', [waiting, waiting, waiting, waiting, waiting, waiting, { status: 'synced', externalId: 'ext-2' }]);
    expect(result).toEqual({ status: 'synced', externalId: 'ext-2' });
    expect(gaps.map((gap) => Math.round(gap / 1_000))).toEqual([1, 2, 4, 8, 15, 15]);
    await recordHistory('erp-waited-for-customer', handle);
  });

  it('ends at once on a failed or stopped outcome', async () => {
    const failed = await run('doc-refused', [{ status: 'failed', error: '400: ValidationException' }]);
    expect(failed.result).toEqual({ status: 'failed', error: '400: ValidationException' });
    expect(failed.script.calls).toHaveLength(1);
    expect((await failed.handle.describe()).typedSearchAttributes.get(erpSearchAttributes.status)).toBe('failed');
    const stopped = await run('doc-disconnected', [{ status: 'stopped', reason: 'the integration is disconnected' }]);
    expect(stopped.result).toEqual({ status: 'stopped', reason: 'the integration is disconnected' });
  });

  it('fails the document with the error when the push itself keeps throwing (5 tries)', async () => {
    const { result, script } = await run('doc-broken', [new Error('database unreachable')]);
    expect(script.calls).toHaveLength(5);
    expect(script.failed).toEqual([expect.stringMatching(/^push failed 5 times: .*database unreachable/)]);
    expect(result).toEqual({ status: 'failed', error: script.failed[0] });
  });
});
