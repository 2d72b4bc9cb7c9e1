import { Migration } from '@mikro-orm/migrations';

/** The catalog, organization structure, credentials, idempotency records and the audit log. */
export class Migration20261121010000 extends Migration {
  override up(): void {
    this.addSql(`create table "audit_events" ("id" bigserial primary key, "occurred_at" timestamptz not null, "actor_type" varchar(32) not null, "actor_id" varchar(200) not null, "organization_id" uuid null, "action" varchar(100) not null, "target_type" varchar(64) not null, "target_id" varchar(200) not null, "before" jsonb null, "after" jsonb null, "request_id" varchar(128) not null);`);
    this.addSql(`create index "audit_events_organization_id_index" on "audit_events" ("organization_id", "id");`);
    this.addSql(`create index "audit_events_target_index" on "audit_events" ("target_type", "target_id");`);
    this.addSql(`create table "idempotency_records" ("principal_id" varchar(200) not null, "key" varchar(255) not null, "request_hash" varchar(64) not null, "response_status" int not null, "response_body" text not null, "response_content_type" varchar(200) not null, "created_at" timestamptz not null, "expires_at" timestamptz not null, primary key ("principal_id", "key"));`);
    this.addSql(`create index "idempotency_records_expires_at_index" on "idempotency_records" ("expires_at");`);
    this.addSql(`create table "metrics" ("id" uuid not null, "code" varchar(64) not null, "name" varchar(200) not null, "aggregation" text not null, "field" varchar(128) null, "created_at" timestamptz not null, primary key ("id"));`);
    this.addSql(`alter table "metrics" add constraint "metrics_code_unique" unique ("code");`);
    this.addSql(`create table "members" ("id" uuid not null, "organization_id" uuid not null, "user_id" varchar(200) not null, "email" varchar(320) null, "role" text not null, "created_at" timestamptz not null, primary key ("id"));`);
    this.addSql(`create index "members_user_id_index" on "members" ("user_id");`);
    this.addSql(`alter table "members" add constraint "members_organization_user_unique" unique ("organization_id", "user_id");`);
    this.addSql(`create table "external_ids" ("id" uuid not null, "organization_id" uuid not null, "application_id" uuid not null, "external_id" varchar(200) not null, "created_at" timestamptz not null, primary key ("id"));`);
    this.addSql(`alter table "external_ids" add constraint "external_ids_application_external_unique" unique ("application_id", "external_id");`);
    this.addSql(`alter table "external_ids" add constraint "external_ids_organization_application_unique" unique ("organization_id", "application_id");`);
    this.addSql(`create table "departments" ("id" uuid not null, "organization_id" uuid not null, "name" varchar(200) not null, "cost_center" varchar(64) null, "gl_code" varchar(64) null, "created_at" timestamptz not null, primary key ("id"));`);
    this.addSql(`alter table "departments" add constraint "departments_organization_name_unique" unique ("organization_id", "name");`);
    this.addSql(`create table "api_keys" ("id" uuid not null, "name" varchar(200) not null, "display_prefix" varchar(32) not null, "key_hash" varchar(64) not null, "scopes" text[] not null, "organization_id" uuid null, "platform_role" text null, "created_by" varchar(200) not null, "expires_at" timestamptz null, "revoked_at" timestamptz null, "last_used_at" timestamptz null, "created_at" timestamptz not null, primary key ("id"));`);
    this.addSql(`alter table "api_keys" add constraint "api_keys_key_hash_unique" unique ("key_hash");`);
    this.addSql(`create index "api_keys_organization_id_index" on "api_keys" ("organization_id");`);
    this.addSql(`create table "plans" ("id" uuid not null, "code" varchar(64) not null, "version" int not null, "name" varchar(200) not null, "application_id" uuid not null, "currency" varchar(3) not null, "interval" text not null, "base_price" bigint not null, "seat_price" bigint not null, "included_seats" int not null, "trial_days" int not null, "created_at" timestamptz not null, primary key ("id"));`);
    this.addSql(`create index "plans_application_id_index" on "plans" ("application_id");`);
    this.addSql(`alter table "plans" add constraint "plans_code_version_unique" unique ("code", "version");`);
    this.addSql(`create table "plan_charges" ("id" uuid not null, "plan_id" uuid not null, "position" int not null, "metric_id" uuid not null, "model" text not null, "unit_price" numeric(30,12) null, "package_size" int null, "tiers" jsonb null, "rate" numeric(30,12) null, "fixed_fee" numeric(30,12) null, "included" bigint not null, "allocation" text not null, primary key ("id"));`);
    this.addSql(`create index "plan_charges_metric_id_index" on "plan_charges" ("metric_id");`);
    this.addSql(`alter table "plan_charges" add constraint "plan_charges_plan_metric_unique" unique ("plan_id", "metric_id");`);
    this.addSql(`create table "webhook_endpoints" ("id" uuid not null, "organization_id" uuid null, "url" varchar(2048) not null, "events" text[] not null, "secret" varchar(100) not null, "created_at" timestamptz not null, "disabled_at" timestamptz null, primary key ("id"));`);
    this.addSql(`create index "webhook_endpoints_organization_id_index" on "webhook_endpoints" ("organization_id");`);
    this.addSql(`alter table "metrics" add constraint "metrics_code_format" check ("code" ~ '^[a-z0-9][a-z0-9_.-]{0,63}$');`);
    this.addSql(`alter table "metrics" add constraint "metrics_field_required" check ("aggregation" = 'count' or "field" is not null);`);
    this.addSql(`alter table "metrics" add constraint "metrics_aggregation_check" check ("aggregation" in ('count', 'sum', 'max', 'unique_count', 'latest'));`);
    this.addSql(`alter table "members" add constraint "members_organization_id_foreign" foreign key ("organization_id") references "organizations" ("id") on delete cascade;`);
    this.addSql(`alter table "members" add constraint "members_role_check" check ("role" in ('OWNER', 'BILLING_ADMIN', 'ADMIN', 'MEMBER'));`);
    this.addSql(`alter table "external_ids" add constraint "external_ids_organization_id_foreign" foreign key ("organization_id") references "organizations" ("id") on delete cascade;`);
    this.addSql(`alter table "external_ids" add constraint "external_ids_application_id_foreign" foreign key ("application_id") references "applications" ("id") on delete restrict;`);
    this.addSql(`alter table "departments" add constraint "departments_organization_id_foreign" foreign key ("organization_id") references "organizations" ("id") on delete cascade;`);
    this.addSql(`alter table "api_keys" add constraint "api_keys_organization_id_foreign" foreign key ("organization_id") references "organizations" ("id") on delete cascade;`);
    this.addSql(`alter table "api_keys" add constraint "api_keys_confined_or_platform" check (("organization_id" is null) <> ("platform_role" is null));`);
    this.addSql(`alter table "api_keys" add constraint "api_keys_platform_role_check" check ("platform_role" in ('platform_admin', 'finance'));`);
    this.addSql(`alter table "plans" add constraint "plans_application_id_foreign" foreign key ("application_id") references "applications" ("id") on delete restrict;`);
    this.addSql(`alter table "plans" add constraint "plans_code_format" check ("code" ~ '^[a-z0-9][a-z0-9_.-]{0,63}$');`);
    this.addSql(`alter table "plans" add constraint "plans_version_positive" check ("version" >= 1);`);
    this.addSql(`alter table "plans" add constraint "plans_currency_format" check ("currency" ~ '^[A-Z]{3}$');`);
    this.addSql(`alter table "plans" add constraint "plans_amounts_non_negative" check ("base_price" >= 0 and "seat_price" >= 0 and "included_seats" >= 0 and "trial_days" >= 0);`);
    this.addSql(`alter table "plans" add constraint "plans_interval_check" check ("interval" in ('week', 'month', 'quarter', 'year'));`);
    this.addSql(`alter table "plan_charges" add constraint "plan_charges_plan_id_foreign" foreign key ("plan_id") references "plans" ("id") on delete cascade;`);
    this.addSql(`alter table "plan_charges" add constraint "plan_charges_metric_id_foreign" foreign key ("metric_id") references "metrics" ("id") on delete restrict;`);
    this.addSql(`alter table "plan_charges" add constraint "plan_charges_included_non_negative" check ("included" >= 0);`);
    this.addSql(`alter table "plan_charges" add constraint "plan_charges_package_size_positive" check ("package_size" is null or "package_size" >= 1);`);
    this.addSql(`alter table "plan_charges" add constraint "plan_charges_model_check" check ("model" in ('per_unit', 'graduated', 'volume', 'package', 'percentage'));`);
    this.addSql(`alter table "plan_charges" add constraint "plan_charges_allocation_check" check ("allocation" in ('pooled', 'per_seat'));`);
    this.addSql(`alter table "webhook_endpoints" add constraint "webhook_endpoints_organization_id_foreign" foreign key ("organization_id") references "organizations" ("id") on delete cascade;`);

    // Triggers as the entities declare them (MikroORM names their functions <table>_<trigger>_fn).
    this.addSql(`create or replace function "audit_events_audit_events_no_update_or_delete_fn"() returns trigger as $$ begin raise exception 'audit_events is append-only' using errcode = 'insufficient_privilege'; end; $$ language plpgsql;`);
    this.addSql(`create trigger "audit_events_no_update_or_delete" BEFORE UPDATE OR DELETE on "audit_events" for each ROW execute function "audit_events_audit_events_no_update_or_delete_fn"();`);
    this.addSql(`create or replace function "audit_events_audit_events_no_truncate_fn"() returns trigger as $$ begin raise exception 'audit_events is append-only' using errcode = 'insufficient_privilege'; end; $$ language plpgsql;`);
    this.addSql(`create trigger "audit_events_no_truncate" BEFORE TRUNCATE on "audit_events" for each STATEMENT execute function "audit_events_audit_events_no_truncate_fn"();`);
    this.addSql(`create or replace function "organizations_organizations_no_cycle_fn"() returns trigger as $$ begin if new.parent_id is not null and exists (
          with recursive ancestors(id) as (
            select new.parent_id
            union
            select o.parent_id from organizations o join ancestors a on o.id = a.id where o.parent_id is not null
          )
          select 1 from ancestors where id = new.id
        ) then
          raise exception 'organization % would become its own ancestor', new.id
            using errcode = 'check_violation', constraint = 'organizations_no_cycle';         end if;         return new; end; $$ language plpgsql;`);
    this.addSql(`create trigger "organizations_no_cycle" BEFORE INSERT OR UPDATE on "organizations" for each ROW execute function "organizations_organizations_no_cycle_fn"();`);
  }

  override down(): void {
    this.addSql(`drop trigger if exists "organizations_no_cycle" on "organizations";`);
    this.addSql(`drop function if exists "organizations_organizations_no_cycle_fn"();`);
    for (const table of ['audit_events', 'idempotency_records', 'webhook_endpoints', 'api_keys', 'external_ids', 'members', 'departments', 'plan_charges', 'plans', 'metrics']) {
      this.addSql(`drop table if exists "${table}" cascade;`);
    }
    this.addSql(`drop function if exists "audit_events_audit_events_no_update_or_delete_fn"();`);
    this.addSql(`drop function if exists "audit_events_audit_events_no_truncate_fn"();`);
  }
}
