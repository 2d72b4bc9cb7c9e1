import { Migration } from '@mikro-orm/migrations';

/** Subscriptions (the mirror of their workflows), their phase history and seat assignments. */
export class Migration20261121020000 extends Migration {
  override up(): void {
    this.addSql(`create table "subscriptions" ("id" uuid not null, "organization_id" uuid not null, "application_id" uuid not null, "plan_id" uuid not null, "department_id" uuid null, "status" text not null, "seats" int not null, "start_date" timestamptz not null, "trial_end" timestamptz not null, "billing_anchor_day" int null, "current_period_start" timestamptz not null, "current_period_end" timestamptz not null, "cancel_at" timestamptz null, "canceled_at" timestamptz null, "paused_at" timestamptz null, "past_due_since" timestamptz null, "version" int not null, "created_at" timestamptz not null, "updated_at" timestamptz not null, primary key ("id"));`);
    this.addSql(`create index "subscriptions_organization_application_index" on "subscriptions" ("organization_id", "application_id");`);
    this.addSql(`create index "subscriptions_plan_id_index" on "subscriptions" ("plan_id");`);
    this.addSql(`create table "seat_assignments" ("id" uuid not null, "subscription_id" uuid not null, "user_id" varchar(200) not null, "assigned_by" varchar(200) not null, "assigned_at" timestamptz not null, primary key ("id"));`);
    this.addSql(`alter table "seat_assignments" add constraint "seat_assignments_subscription_user_unique" unique ("subscription_id", "user_id");`);
    this.addSql(`create table "subscription_phases" ("id" uuid not null, "subscription_id" uuid not null, "sequence" int not null, "kind" text not null, "effective_at" timestamptz not null, "plan_id" uuid not null, "seats" int not null, "proration_lines" jsonb not null, "created_at" timestamptz not null, primary key ("id"));`);
    this.addSql(`create index "subscription_phases_plan_id_index" on "subscription_phases" ("plan_id");`);
    this.addSql(`alter table "subscription_phases" add constraint "subscription_phases_subscription_sequence_unique" unique ("subscription_id", "sequence");`);
    this.addSql(`alter table "subscriptions" add constraint "subscriptions_organization_id_foreign" foreign key ("organization_id") references "organizations" ("id") on delete restrict;`);
    this.addSql(`alter table "subscriptions" add constraint "subscriptions_application_id_foreign" foreign key ("application_id") references "applications" ("id") on delete restrict;`);
    this.addSql(`alter table "subscriptions" add constraint "subscriptions_plan_id_foreign" foreign key ("plan_id") references "plans" ("id") on delete restrict;`);
    this.addSql(`alter table "subscriptions" add constraint "subscriptions_department_id_foreign" foreign key ("department_id") references "departments" ("id") on delete set null;`);
    this.addSql(`alter table "subscriptions" add constraint "subscriptions_seats_non_negative" check ("seats" >= 0);`);
    this.addSql(`alter table "subscriptions" add constraint "subscriptions_period_order" check ("current_period_end" > "current_period_start");`);
    this.addSql(`alter table "subscriptions" add constraint "subscriptions_status_check" check ("status" in ('trialing', 'active', 'past_due', 'paused', 'canceled'));`);
    this.addSql(`alter table "seat_assignments" add constraint "seat_assignments_subscription_id_foreign" foreign key ("subscription_id") references "subscriptions" ("id") on delete cascade;`);
    this.addSql(`alter table "subscription_phases" add constraint "subscription_phases_subscription_id_foreign" foreign key ("subscription_id") references "subscriptions" ("id") on delete cascade;`);
    this.addSql(`alter table "subscription_phases" add constraint "subscription_phases_plan_id_foreign" foreign key ("plan_id") references "plans" ("id") on delete restrict;`);
    this.addSql(`alter table "subscription_phases" add constraint "subscription_phases_seats_non_negative" check ("seats" >= 0);`);
    this.addSql(`alter table "subscription_phases" add constraint "subscription_phases_kind_check" check ("kind" in ('start', 'plan_change', 'seat_change'));`);

    this.addSql(`create or replace function "subscriptions_subscriptions_seats_cover_assignments_fn"() returns trigger as $$ begin if new.seats < old.seats and (select count(*) from seat_assignments where subscription_id = new.id) > new.seats then
          raise exception 'subscription % has more seats assigned than %', new.id, new.seats
            using errcode = 'check_violation', constraint = 'subscriptions_seats_cover_assignments';         end if;         return new; end; $$ language plpgsql;`);
    this.addSql(`create trigger "subscriptions_seats_cover_assignments" BEFORE UPDATE on "subscriptions" for each ROW execute function "subscriptions_subscriptions_seats_cover_assignments_fn"();`);
    this.addSql(`create or replace function "seat_assignments_seat_assignments_within_purchased_fn"() returns trigger as $$ begin perform 1 from subscriptions where id = new.subscription_id for update;         if (select count(*) from seat_assignments where subscription_id = new.subscription_id)
            >= (select seats from subscriptions where id = new.subscription_id) then
          raise exception 'subscription % has all its seats assigned', new.subscription_id
            using errcode = 'check_violation', constraint = 'seat_assignments_within_purchased';         end if;         return new; end; $$ language plpgsql;`);
    this.addSql(`create trigger "seat_assignments_within_purchased" BEFORE INSERT on "seat_assignments" for each ROW execute function "seat_assignments_seat_assignments_within_purchased_fn"();`);
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

  override down(): void {
    this.addSql(`drop function if exists "seat_verdict"(text, text, text);`);
    this.addSql(`drop table if exists "seat_assignments" cascade;`);
    this.addSql(`drop table if exists "subscription_phases" cascade;`);
    this.addSql(`drop table if exists "subscriptions" cascade;`);
    this.addSql(`drop function if exists "seat_assignments_seat_assignments_within_purchased_fn"();`);
    this.addSql(`drop function if exists "subscriptions_subscriptions_seats_cover_assignments_fn"();`);
  }
}
