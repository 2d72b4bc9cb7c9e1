import { Migration } from '@mikro-orm/migrations';

/**
 * Usage metering: event keys (one per organization and eventId), raw events partitioned by month,
 * running aggregates per billing period, distinct values, threshold crossings; hard limits on
 * plan charges and the late-usage mark on subscriptions.
 */
export class Migration20261121030000 extends Migration {
  override up(): void {
    this.addSql(`alter table "plan_charges" add "hard_limit" bigint null;`);
    this.addSql(`alter table "plan_charges" add constraint "plan_charges_hard_limit_positive" check ("hard_limit" is null or "hard_limit" >= 1);`);
    this.addSql(`alter table "subscriptions" add "usage_closed_through" timestamptz null;`);
    // A sum without a field adds up the events' quantity (the domain's rule), so it needs no field.
    this.addSql(`alter table "metrics" drop constraint "metrics_field_required";`);
    this.addSql(`alter table "metrics" add constraint "metrics_field_required" check ("aggregation" in ('count', 'sum') or "field" is not null);`);

    this.addSql(`create table "usage_event_keys" ("organization_id" uuid not null, "event_id" varchar(200) not null, "occurred_at" timestamptz not null, "received_at" timestamptz not null, primary key ("organization_id", "event_id"));`);

    // Raw events, by month of the event's timestamp. Months get their own partition ahead of time
    // (the daily usage processing); anything else lands in the default partition, so no event is
    // ever refused for want of one. Not an entity: see src/db/entities/usage.ts.
    this.addSql(`create table "usage_events" ("organization_id" uuid not null, "event_id" varchar(200) not null, "occurred_at" timestamptz not null, "received_at" timestamptz not null, "subscription_id" uuid not null, "metric_id" uuid not null, "period_start" timestamptz not null, "user_id" varchar(200) null, "department_id" uuid null, "quantity" numeric(38,12) not null, "value" numeric(38,12) null, "distinct_key" varchar(512) null, "properties" jsonb null) partition by range ("occurred_at");`);
    this.addSql(`create table "usage_events_default" partition of "usage_events" default;`);
    this.addSql(`create index "usage_events_subscription_period_index" on "usage_events" ("subscription_id", "period_start", "metric_id");`);

    this.addSql(`create table "usage_aggregates" ("id" uuid not null, "organization_id" uuid not null, "subscription_id" uuid not null, "metric_id" uuid not null, "aggregation" text not null, "period_start" timestamptz not null, "period_end" timestamptz not null, "scope" text not null, "user_key" varchar(200) not null, "department_key" varchar(36) not null, "quantity" numeric(38,12) not null, "event_count" bigint not null, "latest_at" timestamptz null, "latest_event_id" varchar(200) null, "updated_at" timestamptz not null, primary key ("id"));`);
    this.addSql(`create index "usage_aggregates_organization_period_index" on "usage_aggregates" ("organization_id", "period_start");`);
    this.addSql(`create index "usage_aggregates_metric_id_index" on "usage_aggregates" ("metric_id");`);
    this.addSql(`alter table "usage_aggregates" add constraint "usage_aggregates_key_unique" unique ("subscription_id", "metric_id", "period_start", "scope", "user_key", "department_key");`);
    this.addSql(`alter table "usage_aggregates" add constraint "usage_aggregates_subscription_id_foreign" foreign key ("subscription_id") references "subscriptions" ("id") on delete cascade;`);
    this.addSql(`alter table "usage_aggregates" add constraint "usage_aggregates_metric_id_foreign" foreign key ("metric_id") references "metrics" ("id") on delete restrict;`);
    this.addSql(`alter table "usage_aggregates" add constraint "usage_aggregates_period_order" check ("period_end" > "period_start");`);
    this.addSql(`alter table "usage_aggregates" add constraint "usage_aggregates_aggregation_check" check ("aggregation" in ('count', 'sum', 'max', 'unique_count', 'latest'));`);
    this.addSql(`alter table "usage_aggregates" add constraint "usage_aggregates_scope_check" check ("scope" in ('total', 'group'));`);

    this.addSql(`create table "usage_distinct_values" ("subscription_id" uuid not null, "metric_id" uuid not null, "period_start" timestamptz not null, "scope" text not null, "user_key" varchar(200) not null, "department_key" varchar(36) not null, "value_key" varchar(512) not null, primary key ("subscription_id", "metric_id", "period_start", "scope", "user_key", "department_key", "value_key"));`);
    this.addSql(`alter table "usage_distinct_values" add constraint "usage_distinct_values_scope_check" check ("scope" in ('total', 'group'));`);

    this.addSql(`create table "usage_threshold_crossings" ("id" uuid not null, "organization_id" uuid not null, "subscription_id" uuid not null, "metric_id" uuid not null, "period_start" timestamptz not null, "period_end" timestamptz not null, "threshold" int not null, "quota" bigint not null, "quantity" numeric(38,12) not null, "webhook_event_id" uuid null, "crossed_at" timestamptz not null, primary key ("id"));`);
    this.addSql(`create index "usage_threshold_crossings_metric_id_index" on "usage_threshold_crossings" ("metric_id");`);
    this.addSql(`alter table "usage_threshold_crossings" add constraint "usage_threshold_crossings_once" unique ("subscription_id", "metric_id", "period_start", "threshold");`);
    this.addSql(`alter table "usage_threshold_crossings" add constraint "usage_threshold_crossings_subscription_id_foreign" foreign key ("subscription_id") references "subscriptions" ("id") on delete cascade;`);
    this.addSql(`alter table "usage_threshold_crossings" add constraint "usage_threshold_crossings_metric_id_foreign" foreign key ("metric_id") references "metrics" ("id") on delete restrict;`);
    this.addSql(`alter table "usage_threshold_crossings" add constraint "usage_threshold_crossings_threshold_range" check ("threshold" >= 1 and "threshold" <= 100);`);
  }

  override down(): void {
    this.addSql(`drop table if exists "usage_threshold_crossings" cascade;`);
    this.addSql(`drop table if exists "usage_distinct_values" cascade;`);
    this.addSql(`drop table if exists "usage_aggregates" cascade;`);
    this.addSql(`drop table if exists "usage_events" cascade;`);
    this.addSql(`drop table if exists "usage_event_keys" cascade;`);
    this.addSql(`alter table "metrics" drop constraint "metrics_field_required";`);
    this.addSql(`alter table "metrics" add constraint "metrics_field_required" check ("aggregation" = 'count' or "field" is not null);`);
    this.addSql(`alter table "subscriptions" drop column "usage_closed_through";`);
    this.addSql(`alter table "plan_charges" drop constraint "plan_charges_hard_limit_positive";`);
    this.addSql(`alter table "plan_charges" drop column "hard_limit";`);
  }
}
