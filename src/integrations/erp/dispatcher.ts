import { WorkflowExecutionAlreadyStartedError, type Client } from '@temporalio/client';
import type { Orm } from '../../db/orm.js';
import { lockUndispatchedErpDocuments, markErpDocumentsDispatched } from '../../db/repositories/erp-sync.js';
import type { Logger } from '../../logger.js';
import { workflowIds } from '../../temporal/workflow-ids.js';
import { approvalSearchAttributes } from '../../../workflows/messages/approval.js';
import { erpSearchAttributes, type ErpSyncInput } from '../../../workflows/messages/erp.js';
import type { erpSync } from '../../../workflows/erp-sync.js';

export interface ErpDispatcherOptions {
  orm: Orm;
  temporal: Client;
  taskQueue: string;
  logger: Pick<Logger, 'warn' | 'debug'>;
  /** How often to look for queued documents when there were none. */
  intervalMs?: number;
  batchSize?: number;
}

/**
 * Starts `erp:` workflows for queued documents, in the worker process. Rows are locked with SKIP
 * LOCKED and marked dispatched in the transaction that started their workflows, so several workers
 * share the queue, and a crash between the start and the commit only starts a workflow again (it
 * finds the document synced, or carries on where the first left off).
 */
export function startErpDispatcher(options: ErpDispatcherOptions): { stop(): Promise<void> } {
  const intervalMs = options.intervalMs ?? 1_000;
  const batchSize = options.batchSize ?? 200;
  let stopping = false;
  let wake: (() => void) | null = null;

  async function dispatchBatch(): Promise<number> {
    return options.orm.em.fork().transactional(async (tx) => {
      const rows = await lockUndispatchedErpDocuments(tx, batchSize);
      await Promise.all(
        rows.map(async (row) => {
          const args: [ErpSyncInput] = [{ integrationId: row.integrationId, documentType: row.documentType, documentId: row.documentId }];
          try {
            await options.temporal.workflow.start<typeof erpSync>('erpSync', {
              workflowId: workflowIds.erp(row.integrationId, row.documentType, row.documentId),
              taskQueue: options.taskQueue,
              args,
              typedSearchAttributes: [
                { key: erpSearchAttributes.documentType, value: row.documentType },
                { key: erpSearchAttributes.status, value: 'pending' },
                { key: approvalSearchAttributes.organizationId, value: row.organizationId },
              ],
            });
          } catch (error) {
            if (!(error instanceof WorkflowExecutionAlreadyStartedError)) throw error;
          }
        }),
      );
      await markErpDocumentsDispatched(tx, rows);
      return rows.length;
    });
  }

  const loop = (async () => {
    while (!stopping) {
      let dispatched = 0;
      try {
        dispatched = await dispatchBatch();
      } catch (error) {
        options.logger.warn({ err: error }, 'erp dispatch failed; retrying');
      }
      if (dispatched < batchSize && !stopping) {
        await new Promise<void>((resolve) => {
          wake = resolve;
          setTimeout(resolve, intervalMs).unref();
        });
      }
    }
  })();

  return {
    async stop() {
      stopping = true;
      wake?.();
      await loop;
    },
  };
}
