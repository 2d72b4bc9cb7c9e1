import type { EntityManager } from '@mikro-orm/postgresql';
import { sql } from '../sql.js';
import { organizationTree } from './organizations.js';

/**
 * The transactional outbox of webhook events and their deliveries: `webhook_events` (one per
 * business event), `webhook_deliveries` (one per event and receiving endpoint) and
 * `webhook_delivery_attempts` (one per POST).
 */

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
const endpointReceivesEvent = `endpoint.disabled_at is null and case
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
  const [inserted] = await sql<{ id: string }>(
    em,
    `with recursive event(endpoint_id, type) as (select $1::uuid, $2::text),
       ${organizationTree('ancestry', 'ancestors', 'id = $3::uuid')}
     insert into webhook_events (id, organization_id, endpoint_id, type, payload, dedupe_key, created_at, dispatched_at)
     select $4, $3, event.endpoint_id, event.type, $5::jsonb, $6, now(),
       case when exists (select 1 from webhook_endpoints endpoint where ${endpointReceivesEvent}) then null else now() end
     from event
     on conflict (dedupe_key) do nothing returning id`,
    [event.endpointId ?? null, event.type, event.organizationId, crypto.randomUUID(), JSON.stringify(event.data), event.dedupeKey],
  );
  if (inserted) return inserted.id;
  const first = await webhookEventIdByDedupeKey(em, event.dedupeKey);
  if (first === undefined) throw new Error(`webhook event with dedupe key ${event.dedupeKey} neither inserted nor found`);
  return first;
}

export async function webhookEventIdByDedupeKey(em: EntityManager, dedupeKey: string): Promise<string | undefined> {
  const [row] = await sql<{ id: string }>(em, 'select id from webhook_events where dedupe_key = $1', [dedupeKey]);
  return row?.id;
}

/** Those of `eventIds` not dispatched yet. */
export async function undispatchedWebhookEventIds(em: EntityManager, eventIds: readonly string[]): Promise<string[]> {
  const rows = await sql<{ id: string }>(em, 'select id from webhook_events where id = any($1::uuid[]) and dispatched_at is null', [eventIds]);
  return rows.map((row) => row.id);
}

/** Events committed more than `minimumAge` (an SQL interval, e.g. `30 seconds`) ago and still not dispatched, oldest first. */
export async function staleUndispatchedWebhookEventIds(em: EntityManager, minimumAge: string, limit: number): Promise<string[]> {
  const rows = await sql<{ id: string }>(
    em,
    `select id from webhook_events where dispatched_at is null and created_at < now() - $1::interval order by created_at limit $2`,
    [minimumAge, limit],
  );
  return rows.map((row) => row.id);
}

/**
 * Locks the event for the rest of the caller's transaction and, on its first resolution, creates
 * one pending delivery per endpoint that receives it (in endpoint order) and marks it dispatched.
 * Returns the deliveries still pending, oldest first; null when the event is not visible.
 */
export async function resolveWebhookEventDeliveries(tx: EntityManager, eventId: string, now: Date): Promise<string[] | null> {
  const [event] = await sql<{ dispatchedAt: Date | null }>(tx, 'select dispatched_at as "dispatchedAt" from webhook_events where id = $1 for update', [eventId]);
  if (!event) return null;
  if (event.dispatchedAt === null) {
    await sql(
      tx,
      `with recursive event as (select id, organization_id, endpoint_id, type from webhook_events where id = $1),
         ${organizationTree('ancestry', 'ancestors', 'id = (select organization_id from event)')}
       insert into webhook_deliveries (id, event_id, endpoint_id, status, attempts, created_at)
       select gen_random_uuid(), event.id, endpoint.id, 'pending', 0, $2
       from event join webhook_endpoints endpoint on ${endpointReceivesEvent}
       order by endpoint.created_at, endpoint.id
       on conflict (event_id, endpoint_id) do nothing`,
      [eventId, now],
    );
    await sql(tx, 'update webhook_events set dispatched_at = $1 where id = $2', [now, eventId]);
  }
  const pending = await sql<{ id: string }>(tx, `select id from webhook_deliveries where event_id = $1 and status = 'pending' order by created_at, id`, [eventId]);
  return pending.map((row) => row.id);
}

/** What one delivery attempt needs: the delivery's state, its endpoint and its event. */
export interface WebhookDeliveryRow {
  status: 'pending' | 'succeeded' | 'failed';
  url: string;
  secret: string;
  disabled_at: Date | null;
  event_id: string;
  type: string;
  payload: Record<string, unknown>;
  organization_id: string | null;
  created_at: Date;
}

export async function webhookDelivery(em: EntityManager, deliveryId: string): Promise<WebhookDeliveryRow | undefined> {
  const [delivery] = await sql<WebhookDeliveryRow>(
    em,
    `select d.status, ep.url, ep.secret, ep.disabled_at, e.id as event_id, e.type, e.payload, e.organization_id, e.created_at
     from webhook_deliveries d join webhook_endpoints ep on ep.id = d.endpoint_id join webhook_events e on e.id = d.event_id
     where d.id = $1`,
    [deliveryId],
  );
  return delivery;
}

export interface WebhookAttemptOutcome {
  attemptedAt: Date;
  succeeded: boolean;
  responseStatus: number | null;
  error: string | null;
  durationMs: number;
}

/** Writes one attempt and the delivery's new state, in the caller's transaction; returns the attempt's number. */
export async function recordWebhookAttempt(tx: EntityManager, deliveryId: string, outcome: WebhookAttemptOutcome): Promise<number> {
  const [row] = await sql<{ attempts: number }>(
    tx,
    `update webhook_deliveries set attempts = attempts + 1, last_attempt_at = $1, last_response_status = $2, last_error = $3,
       status = case when $4::boolean then 'succeeded' else status end, completed_at = case when $4::boolean then $1 else completed_at end
     where id = $5 returning attempts`,
    [outcome.attemptedAt, outcome.responseStatus, outcome.error, outcome.succeeded, deliveryId],
  );
  const attempt = row?.attempts ?? 0;
  await sql(
    tx,
    `insert into webhook_delivery_attempts (delivery_id, attempt, attempted_at, response_status, error, duration_ms) values ($1, $2, $3, $4, $5, $6)`,
    [deliveryId, attempt, outcome.attemptedAt, outcome.responseStatus, outcome.error, outcome.durationMs],
  );
  return attempt;
}

/** Marks a delivery that is still pending failed. */
export async function markWebhookDeliveryFailed(tx: EntityManager, deliveryId: string, reason: string, at: Date): Promise<void> {
  await sql(tx, `update webhook_deliveries set status = 'failed', completed_at = $1, last_error = $2 where id = $3 and status = 'pending'`, [
    at,
    reason,
    deliveryId,
  ]);
}
