import { WorkflowExecutionAlreadyStartedError, type Client } from '@temporalio/client';
import type { Orm } from '../db/orm.js';
import { undispatchedWebhookEventIds } from '../db/repositories/webhook-events.js';
import type { Logger } from '../logger.js';
import { workflowIds } from '../temporal/workflow-ids.js';
import type { WebhookEventDeliveryWorkflow } from '../../workflows/messages/webhook-delivery.js';

export { recordWebhookEvent, type WebhookEventInput } from '../db/repositories/webhook-events.js';

/** What dispatching needs: the client that starts workflows, their queue, and the database. */
export interface WebhookDispatcher {
  temporal: Client;
  taskQueue: string;
  orm: Orm;
  logger?: Pick<Logger, 'warn'>;
}

/**
 * Starts delivery of recorded events that are still undispatched (an event nobody receives was
 * dispatched when recorded); call it after their transaction committed (in an API handler:
 * `c.var.afterCommit(() => dispatchWebhookEvents(...))`; in an activity: after its
 * `transactional` returned, with `Context.current().client`). Best effort: when Temporal is
 * unavailable the events stay undispatched and the sweep starts them later, so a failure here is
 * logged, never thrown. A workflow already started for an event is not an error.
 */
export async function dispatchWebhookEvents(dispatcher: WebhookDispatcher, eventIds: readonly string[]): Promise<void> {
  if (eventIds.length === 0) return;
  const { temporal, taskQueue, orm, logger } = dispatcher;
  let undispatched: string[];
  try {
    undispatched = await undispatchedWebhookEventIds(orm.em.fork(), eventIds);
  } catch (error) {
    logger?.warn({ err: error, eventIds }, 'webhook event dispatch failed; the sweep will retry it');
    return;
  }
  await Promise.all(
    undispatched.map(async (eventId) => {
      try {
        await temporal.workflow.start<WebhookEventDeliveryWorkflow>('webhookEventDelivery', {
          workflowId: workflowIds.webhookEvent(eventId),
          taskQueue,
          args: [{ eventId }],
          // A delivered event is never started again; a run that failed (its event not found) may be.
          workflowIdReusePolicy: 'ALLOW_DUPLICATE_FAILED_ONLY',
        });
      } catch (error) {
        if (error instanceof WorkflowExecutionAlreadyStartedError) return;
        logger?.warn({ err: error, eventId }, 'webhook event dispatch failed; the sweep will retry it');
      }
    }),
  );
}
