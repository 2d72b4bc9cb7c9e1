import { Migration } from '@mikro-orm/migrations';

/**
 * Seat verification reads with one set-based, prepared statement per batch of questions
 * (src/db/repositories/seats.ts); the per-question PL/pgSQL function it called is gone.
 */
export class Migration20261122000000 extends Migration {
  override up(): void {
    this.addSql(`drop function if exists "seat_verdict"(text, text, text);`);
  }

  override down(): void {
    this.addSql(`create or replace function "seat_verdict"("p_application_slug" text, "p_external_org_id" text, "p_user_id" text) returns jsonb language plpgsql as $$ begin return (
    select jsonb_build_object(
      'organizationId', e.organization_id, 'subscriptionId', s.id, 'status', s.status,
      'currentPeriodEnd', s.current_period_end, 'cancelAt', s.cancel_at, 'pastDueSince', s.past_due_since, 'seatId', a.id)
    from applications app
    join external_ids e on e.application_id = app.id and e.external_id = p_external_org_id
    left join lateral (
      select sub.id, sub.status, sub.current_period_end, sub.cancel_at, sub.past_due_since from subscriptions sub
      where sub.organization_id = e.organization_id and sub.application_id = app.id
      order by (sub.canceled_at is null) desc, sub.created_at desc limit 1
    ) s on true
    left join seat_assignments a on a.subscription_id = s.id and a.user_id = p_user_id
    where app.slug = p_application_slug); end $$;`);
  }
}
