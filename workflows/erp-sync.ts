import { ActivityFailure, continueAsNew, proxyActivities, sleep, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import type { createErpActivities } from '../activities/erp.js';
import { erpSearchAttributes, type ErpPushOutcome, type ErpSyncInput } from './messages/erp.js';

type ErpActivities = ReturnType<typeof createErpActivities>;

/**
 * The push itself decides and records everything (the attempt, its outcome, the next delay) and
 * answers vendor failures as outcomes; Temporal's retries here cover only what is not the
 * vendor's: the database, or a worker that died mid-push (the next attempt reconciles first).
 */
const pushTries = 5;
const { pushErpDocument } = proxyActivities<ErpActivities>({
  startToCloseTimeout: '3 minutes',
  heartbeatTimeout: '10 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute', maximumAttempts: pushTries },
});
const { failErpDocument } = proxyActivities<ErpActivities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute' },
});

/** How long to wait for a dependency before looking again: doubling from 1 s to 15 s (a dependency queued at the same time is usually in within seconds). */
const dependencyWaitMs = (waits: number) => Math.min(1_000 * 2 ** waits, 15_000);

/**
 * `erp:<integrationId>:<documentType>:<documentId>`: pushes one document to one ERP, after the
 * documents it refers to, retrying transient failures after the delay each attempt names.
 */
export async function erpSync(input: ErpSyncInput): Promise<ErpPushOutcome> {
  let waits = 0;
  for (;;) {
    let outcome: ErpPushOutcome;
    try {
      outcome = await pushErpDocument(input);
    } catch (error) {
      if (!(error instanceof ActivityFailure)) throw error;
      outcome = await failErpDocument(input, `push failed ${pushTries} times: ${error.cause?.message ?? error.message}`);
    }
    upsertSearchAttributes([{ key: erpSearchAttributes.status, value: outcome.status }]);
    switch (outcome.status) {
      case 'synced':
      case 'failed':
      case 'stopped':
        return outcome;
      case 'retrying':
        waits = 0;
        await sleep(outcome.delayMs);
        break;
      case 'waiting':
        await sleep(dependencyWaitMs(waits++));
        break;
    }
    // A document can wait long for its dependency; its history starts over rather than growing without end.
    if (workflowInfo().continueAsNewSuggested) await continueAsNew<typeof erpSync>(input);
  }
}
