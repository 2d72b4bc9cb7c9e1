import type { EntityManager } from '@mikro-orm/postgresql';
import { WorkflowExecutionAlreadyStartedError, type Client } from '@temporalio/client';
import type { Orm } from '../db/orm.js';
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
 * Whether `endpoint` receives `event`: enabled, and either the event's one endpoint or subscribed
 * to its type (exactly, `prefix.*` or `*`) and owned by the event's organization, one of its
 * ancestors (rows of `ancestry`) or the platform (organization null). SQL over those three names,
 * shared by recording (is anyone listening?) and resolution (who is?).
 */
export const endpointReceivesEvent = `endpoint.disabled_at is null and case
  when event.endpoint_id is not null then endpoint.id = event.endpoint_id
  else (endpoint.organization_id is null or endpoint.organization_id in (select id from ancestry))
    and (event.type = any(endpoint.events) or '*' = any(endpoint.events) or split_part(event.type, '.', 1) || '.*' = any(endpoint.events))
end`;

/**
 * Records an event in the transactional outbox, in the caller's transaction: it is delivered only
 * if that transaction commits, and then even if the process dies right after the commit (the
 * dispatch sweep finds it). An event no endpoint receives is recorded as dispatched already, so
 * no delivery workflow is started for it. Returns the event's id — the first event's id for a
 * repeated key.
 */
export async function recordWebhookEvent(em: EntityManager, event: WebhookEventInput): Promise<string> {
  const inserted = await em.execute<{ id: string }[]>(
    `with recursive event(endpoint_id, type) as (select ?::uuid, ?::text),
       ancestry(id) as (
         select id from organizations where id = ?::uuid
         union
         select o.parent_id from organizations o join ancestry a on o.id = a.id where o.parent_id is not null
       )
     insert into webhook_events (id, organization_id, endpoint_id, type, payload, dedupe_key, created_at, dispatched_at)
     select ?, ?, event.endpoint_id, event.type, ?::jsonb, ?, now(),
       case when exists (select 1 from webhook_endpoints endpoint where ${endpointReceivesEvent}) then null else now() end
     from event
     on conflict (dedupe_key) do nothing returning id`,
    [
      event.endpointId ?? null,
      event.type,
      event.organizationId,
      crypto.randomUUID(),
      event.organizationId,
      JSON.stringify(event.data),
      event.dedupeKey,
    ],
  );
  if (inserted[0]) return inserted[0].id;
  const [first] = await em.execute<{ id: string }[]>('select id from webhook_events where dedupe_key = ?', [event.dedupeKey]);
  if (!first) throw new Error(`webhook event with dedupe key ${event.dedupeKey} neither inserted nor found`);
  return first.id;
}

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
  let undispatched: { id: string }[];
  try {
    undispatched = await orm.em
      .fork()
      .execute<{ id: string }[]>('select id from webhook_events where id in (select jsonb_array_elements_text(?::jsonb)::uuid) and dispatched_at is null', [
        JSON.stringify(eventIds),
      ]);
  } catch (error) {
    logger?.warn({ err: error, eventIds }, 'webhook event dispatch failed; the sweep will retry it');
    return;
  }
  await Promise.all(
    undispatched.map(async ({ id: eventId }) => {
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
