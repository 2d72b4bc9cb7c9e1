import type { EntityManager } from '@mikro-orm/postgresql';
import type { Subscription } from '../entities/index.js';

/** What `seat_verdict` returns (timestamps as JSON strings); null for an unknown organization. */
export interface SeatVerdictRow {
  organizationId: string;
  subscriptionId: string | null;
  status: Subscription['status'] | null;
  currentPeriodEnd: string | null;
  cancelAt: string | null;
  pastDueSince: string | null;
  seatId: string | null;
}

/**
 * Calls the `seat_verdict` routine (src/db/routines.ts) with one plain statement: verification is
 * the hottest read, and the ORM's routine call costs more than the lookup itself.
 */
export async function seatVerdict(em: EntityManager, applicationSlug: string, externalOrgId: string, userId: string): Promise<SeatVerdictRow | null> {
  const [row] = await em.getConnection().execute<{ verdict: SeatVerdictRow | null }[]>('select seat_verdict(?, ?, ?) as verdict', [
    applicationSlug,
    externalOrgId,
    userId,
  ]);
  return row?.verdict ?? null;
}
