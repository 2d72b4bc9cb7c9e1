import type { EntityManager } from '@mikro-orm/postgresql';
import { WorkflowExecutionAlreadyStartedError, type Client } from '@temporalio/client';
import type { Logger } from '../logger.js';
import { workflowIds } from '../temporal/workflow-ids.js';
import type { webhookEventDelivery } from '../../workflows/webhook-delivery.js';

export interface WebhookEventInput {
  /** The organization the event is about; null for a platform-wide event. */
  organizationId: string | null;
  /** A dotted event type such as `invoice.finalized`. */
  type: string;
  data: Record<string, unknown>;
  /** A business key (e.g. `invoice.finalized:<invoiceId>`): recording the same key again records nothing. */
  dedupeKey: string;
  /** Deliver to this endpoint only, whatever it subscribes to (`webhook.test`); otherwise to every matching endpoint. */
  endpointId?: string;
}

/**
 * Records an event in the transactional outbox, in the caller's transaction: it is delivered only
 * if that transaction commits, and then even if the process dies right after the commit (the
 * dispatch sweep finds it). Returns the event's id — the first event's id for a repeated key.
 */
export async function recordWebhookEvent(em: EntityManager, event: WebhookEventInput): Promise<string> {
  const inserted = await em.execute<{ id: string }[]>(
    `insert into webhook_events (id, organization_id, endpoint_id, type, payload, dedupe_key, created_at)
     values (?, ?, ?, ?, ?::jsonb, ?, now()) on conflict (dedupe_key) do nothing returning id`,
    [crypto.randomUUID(), event.organizationId, event.endpointId ?? null, event.type, JSON.stringify(event.data), event.dedupeKey],
  );
  if (inserted[0]) return inserted[0].id;
  const [first] = await em.execute<{ id: string }[]>('select id from webhook_events where dedupe_key = ?', [event.dedupeKey]);
  if (!first) throw new Error(`webhook event with dedupe key ${event.dedupeKey} neither inserted nor found`);
  return first.id;
}

/**
 * Starts delivery of recorded events; call it after their transaction committed (in an API
 * handler: `c.var.afterCommit(() => dispatchWebhookEvents(...))`; in an activity: after its
 * `transactional` returned, with `Context.current().client`). Best effort:
 * when Temporal is unavailable the events stay undispatched and the sweep starts them later, so
 * a failure here is logged, never thrown. A workflow already started for an event is not an error.
 */
export async function dispatchWebhookEvents(temporal: Client, taskQueue: string, eventIds: string[], logger?: Pick<Logger, 'warn'>): Promise<void> {
  await Promise.all(
    eventIds.map(async (eventId) => {
      try {
        await temporal.workflow.start<typeof webhookEventDelivery>('webhookEventDelivery', {
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
