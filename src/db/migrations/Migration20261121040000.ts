import { Migration } from '@mikro-orm/migrations';

/** Outgoing webhooks: the transactional outbox of events, the delivery log and its attempts. */
export class Migration20261121040000 extends Migration {
  override up(): void {
    this.addSql(`create table "webhook_events" ("id" uuid not null, "organization_id" uuid null, "endpoint_id" uuid null, "type" varchar(100) not null, "payload" jsonb not null, "dedupe_key" varchar(300) not null, "created_at" timestamptz not null, "dispatched_at" timestamptz null, primary key ("id"));`);
    this.addSql(`alter table "webhook_events" add constraint "webhook_events_dedupe_key_unique" unique ("dedupe_key");`);
    this.addSql(`create index "webhook_events_organization_id_index" on "webhook_events" ("organization_id");`);
    this.addSql(`create index "webhook_events_endpoint_id_index" on "webhook_events" ("endpoint_id");`);
    this.addSql(`create index "webhook_events_undispatched_index" on "webhook_events" ("created_at") where "dispatched_at" is null;`);
    this.addSql(`create table "webhook_deliveries" ("id" uuid not null, "event_id" uuid not null, "endpoint_id" uuid not null, "status" text not null, "attempts" int not null, "last_response_status" int null, "last_error" varchar(1000) null, "created_at" timestamptz not null, "last_attempt_at" timestamptz null, "completed_at" timestamptz null, primary key ("id"));`);
    this.addSql(`create index "webhook_deliveries_endpoint_page_index" on "webhook_deliveries" ("endpoint_id", "created_at", "id");`);
    this.addSql(`alter table "webhook_deliveries" add constraint "webhook_deliveries_event_endpoint_unique" unique ("event_id", "endpoint_id");`);
    this.addSql(`create table "webhook_delivery_attempts" ("id" bigserial primary key, "delivery_id" uuid not null, "attempt" int not null, "attempted_at" timestamptz not null, "response_status" int null, "error" varchar(1000) null, "duration_ms" int not null);`);
    this.addSql(`alter table "webhook_delivery_attempts" add constraint "webhook_delivery_attempts_delivery_attempt_unique" unique ("delivery_id", "attempt");`);
    this.addSql(`alter table "webhook_events" add constraint "webhook_events_organization_id_foreign" foreign key ("organization_id") references "organizations" ("id") on delete cascade;`);
    this.addSql(`alter table "webhook_events" add constraint "webhook_events_endpoint_id_foreign" foreign key ("endpoint_id") references "webhook_endpoints" ("id") on delete cascade;`);
    this.addSql(`alter table "webhook_deliveries" add constraint "webhook_deliveries_event_id_foreign" foreign key ("event_id") references "webhook_events" ("id") on delete cascade;`);
    this.addSql(`alter table "webhook_deliveries" add constraint "webhook_deliveries_endpoint_id_foreign" foreign key ("endpoint_id") references "webhook_endpoints" ("id") on delete cascade;`);
    this.addSql(`alter table "webhook_deliveries" add constraint "webhook_deliveries_attempts_non_negative" check ("attempts" >= 0);`);
    this.addSql(`alter table "webhook_deliveries" add constraint "webhook_deliveries_status_check" check ("status" in ('pending', 'succeeded', 'failed'));`);
    this.addSql(`alter table "webhook_delivery_attempts" add constraint "webhook_delivery_attempts_delivery_id_foreign" foreign key ("delivery_id") references "webhook_deliveries" ("id") on delete cascade;`);
  }

  override down(): void {
    this.addSql(`drop table if exists "webhook_delivery_attempts" cascade;`);
    this.addSql(`drop table if exists "webhook_deliveries" cascade;`);
    this.addSql(`drop table if exists "webhook_events" cascade;`);
  }
}
