import { Routine } from '@mikro-orm/core';

/**
 * Seat verification, the hottest read, as one PL/pgSQL function: PL/pgSQL keeps its statement's
 * plan per connection, so a call skips planning the four-table join that dominated its cost.
 * Returns null for an unknown application or external id, else the organization, its newest live
 * (else newest) subscription to the application, and the user's seat in it.
 */
export const SeatVerdict = new Routine({
  name: 'seat_verdict',
  type: 'function',
  language: 'plpgsql',
  params: {
    p_application_slug: { type: 'text', runtimeType: 'string' },
    p_external_org_id: { type: 'text', runtimeType: 'string' },
    p_user_id: { type: 'text', runtimeType: 'string' },
  },
  returns: { runtimeType: 'object', columnType: 'jsonb', nullable: true },
  body: `return (
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
    where app.slug = p_application_slug);`,
});

export const routines = [SeatVerdict];
