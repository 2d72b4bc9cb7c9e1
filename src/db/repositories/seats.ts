import { InFlightBatcher } from '../batcher.js';
import { poolOf, type Orm } from '../orm.js';
import { namedSql } from '../sql.js';
import type { Subscription } from '../entities/index.js';

/** What a seat question finds (timestamps as JSON strings); null for an unknown organization. */
export interface SeatVerdictRow {
  organizationId: string;
  subscriptionId: string | null;
  status: Subscription['status'] | null;
  currentPeriodEnd: string | null;
  cancelAt: string | null;
  pastDueSince: string | null;
  seatId: string | null;
}

interface SeatQuestion {
  applicationSlug: string;
  externalOrgId: string;
  userId: string;
}

/**
 * Answers seat questions with one set-based statement per batch (`InFlightBatcher`): the
 * questions that arrive while earlier batches are in flight go out together. For each: the
 * organization the application knows by that external id, its newest live (else newest)
 * subscription to the application, and the user's seat in it. Verification is the hottest read,
 * and on this path a database round trip (its system calls on both sides) costs far more than the
 * lookup itself. Each batch starts after its questions arrived, so it sees every change committed
 * before them. The statement is named (parsed and planned once per connection), set-based (no
 * function call per question) and runs on the ORM's own `pg` pool, skipping the ORM's query layer.
 */
export class SeatVerdicts {
  readonly #batcher: InFlightBatcher<SeatQuestion, SeatVerdictRow | null>;

  constructor(orm: Orm) {
    this.#batcher = new InFlightBatcher<SeatQuestion, SeatVerdictRow | null>({
      // Batches in flight at once: the rest of the pool stays free for everything else.
      maxInFlight: 2,
      maxBatch: 500,
      run: async (batch) => {
        const rows = await namedSql<SeatVerdictRow & { known: boolean }>(await poolOf(orm.em), {
          name: 'ledgerflow_seat_verdicts',
          text: `select e.organization_id is not null as known, e.organization_id as "organizationId", s.id as "subscriptionId", s.status,
                   to_json(s.current_period_end) #>> '{}' as "currentPeriodEnd", to_json(s.cancel_at) #>> '{}' as "cancelAt",
                   to_json(s.past_due_since) #>> '{}' as "pastDueSince", a.id as "seatId"
                   from unnest($1::text[], $2::text[], $3::text[]) with ordinality as q(application_slug, external_org_id, user_id, position)
                   left join applications app on app.slug = q.application_slug
                   left join external_ids e on e.application_id = app.id and e.external_id = q.external_org_id
                   left join lateral (
                     select sub.id, sub.status, sub.current_period_end, sub.cancel_at, sub.past_due_since from subscriptions sub
                     where sub.organization_id = e.organization_id and sub.application_id = app.id
                     order by (sub.canceled_at is null) desc, sub.created_at desc limit 1
                   ) s on true
                   left join seat_assignments a on a.subscription_id = s.id and a.user_id = q.user_id
                  order by q.position`,
          values: [batch.map((q) => q.applicationSlug), batch.map((q) => q.externalOrgId), batch.map((q) => q.userId)],
        });
        return batch.map((_, index) => {
          const row = rows[index];
          return { ok: true, value: row?.known ? row : null };
        });
      },
    });
  }

  ask(applicationSlug: string, externalOrgId: string, userId: string): Promise<SeatVerdictRow | null> {
    return this.#batcher.submit({ applicationSlug, externalOrgId, userId });
  }
}
