import type { EntityManager } from '@mikro-orm/postgresql';
import { sql } from '../sql.js';

/** Stores a received Stripe event once: a redelivery of the same event id stores nothing. */
export async function recordStripeEvent(em: EntityManager, event: { id: string; type: string; payload: string; receivedAt: Date }): Promise<void> {
  await sql(em, 'insert into stripe_events (id, type, payload, received_at) values ($1, $2, $3::jsonb, $4) on conflict (id) do nothing', [
    event.id,
    event.type,
    event.payload,
    event.receivedAt,
  ]);
}

/** Locks a stored event for the rest of the caller's transaction and says whether (and how) it was processed. */
export async function lockStripeEvent(tx: EntityManager, id: string): Promise<{ processedAt: Date | null; outcome: string | null } | undefined> {
  const [row] = await sql<{ processedAt: Date | null; outcome: string | null }>(
    tx,
    'select processed_at as "processedAt", outcome from stripe_events where id = $1 for update',
    [id],
  );
  return row;
}

/** Records what processing an event did; `processedAt` null leaves it to be processed again on redelivery. */
export async function recordStripeEventOutcome(tx: EntityManager, id: string, processedAt: Date | null, outcome: string): Promise<void> {
  await sql(tx, 'update stripe_events set processed_at = $1, outcome = $2 where id = $3', [processedAt, outcome, id]);
}
