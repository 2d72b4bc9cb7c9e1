import { Migration } from '@mikro-orm/migrations';

/** ERP sync (src/integrations/erp/): integrations with sealed credentials, GL mappings, the per-document outbox and sync state, and each push attempt. */
export class Migration20261205030000 extends Migration {
  override up(): void {
    this.addSql(`create table "erp_integrations" ("id" uuid not null, "provider" text not null, "name" varchar(200) not null, "organization_id" uuid null, "status" text not null, "document_types" text[] not null, "credentials" text not null, "access_token" text null, "settings" jsonb not null, "rate_next_at" timestamptz not null, "last_sync_at" timestamptz null, "last_error" varchar(2000) null, "created_by" varchar(200) not null, "created_at" timestamptz not null, "updated_at" timestamptz not null, primary key ("id"));`);
    this.addSql(`alter table "erp_integrations" add constraint "erp_integrations_provider_check" check ("provider" in ('quickbooks', 'xero', 'netsuite', 'sap', 'sage', 'dynamics365'));`);
    this.addSql(`alter table "erp_integrations" add constraint "erp_integrations_status_check" check ("status" in ('connected', 'disconnected', 'needs_attention'));`);
    this.addSql(`alter table "erp_integrations" add constraint "erp_integrations_organization_id_foreign" foreign key ("organization_id") references "organizations" ("id") on delete cascade;`);
    this.addSql(`create table "erp_gl_mappings" ("id" uuid not null, "integration_id" uuid not null, "position" int not null, "kind" text not null, "plan_code" varchar(64) null, "metric_code" varchar(64) null, "department_id" uuid null, "account" varchar(200) not null, primary key ("id"));`);
    this.addSql(`create index "erp_gl_mappings_integration_index" on "erp_gl_mappings" ("integration_id");`);
    this.addSql(`alter table "erp_gl_mappings" add constraint "erp_gl_mappings_kind_check" check ("kind" in ('revenue', 'tax', 'receivable', 'cash', 'refund', 'discount', 'credit'));`);
    this.addSql(`alter table "erp_gl_mappings" add constraint "erp_gl_mappings_integration_id_foreign" foreign key ("integration_id") references "erp_integrations" ("id") on delete cascade;`);
    this.addSql(`alter table "erp_gl_mappings" add constraint "erp_gl_mappings_department_id_foreign" foreign key ("department_id") references "departments" ("id") on delete cascade;`);
    this.addSql(`create table "erp_sync_documents" ("integration_id" uuid not null, "document_type" text not null, "document_id" uuid not null, "organization_id" uuid not null, "status" text not null, "depends_on_type" text null, "depends_on_id" uuid null, "external_id" varchar(200) null, "attempts" int not null, "last_error" varchar(2000) null, "dispatched_at" timestamptz null, "synced_at" timestamptz null, "created_at" timestamptz not null, "updated_at" timestamptz not null, primary key ("integration_id", "document_type", "document_id"));`);
    this.addSql(`create index "erp_sync_documents_undispatched_index" on "erp_sync_documents" ("created_at") where "dispatched_at" is null;`);
    this.addSql(`alter table "erp_sync_documents" add constraint "erp_sync_documents_document_type_check" check ("document_type" in ('customer', 'invoice', 'credit_note', 'payment', 'refund'));`);
    this.addSql(`alter table "erp_sync_documents" add constraint "erp_sync_documents_status_check" check ("status" in ('pending', 'retrying', 'synced', 'failed'));`);
    this.addSql(`alter table "erp_sync_documents" add constraint "erp_sync_documents_depends_on_type_check" check ("depends_on_type" in ('customer', 'invoice', 'credit_note', 'payment', 'refund'));`);
    this.addSql(`alter table "erp_sync_documents" add constraint "erp_sync_documents_integration_id_foreign" foreign key ("integration_id") references "erp_integrations" ("id") on delete cascade;`);
    this.addSql(`alter table "erp_sync_documents" add constraint "erp_sync_documents_organization_id_foreign" foreign key ("organization_id") references "organizations" ("id") on delete cascade;`);
    this.addSql(`create table "erp_sync_attempts" ("id" bigserial primary key, "integration_id" uuid not null, "document_type" text not null, "document_id" uuid not null, "attempt" int not null, "outcome" text not null, "external_id" varchar(200) null, "error" varchar(2000) null, "started_at" timestamptz not null, "finished_at" timestamptz not null);`);
    this.addSql(`create index "erp_sync_attempts_document_index" on "erp_sync_attempts" ("integration_id", "document_type", "document_id");`);
    this.addSql(`alter table "erp_sync_attempts" add constraint "erp_sync_attempts_document_type_check" check ("document_type" in ('customer', 'invoice', 'credit_note', 'payment', 'refund'));`);
    this.addSql(`alter table "erp_sync_attempts" add constraint "erp_sync_attempts_outcome_check" check ("outcome" in ('synced', 'reconciled', 'retrying', 'failed'));`);
    this.addSql(`alter table "erp_sync_attempts" add constraint "erp_sync_attempts_integration_id_foreign" foreign key ("integration_id") references "erp_integrations" ("id") on delete cascade;`);
  }

  override down(): void {
    this.addSql(`drop table if exists "erp_sync_attempts" cascade;`);
    this.addSql(`drop table if exists "erp_sync_documents" cascade;`);
    this.addSql(`drop table if exists "erp_gl_mappings" cascade;`);
    this.addSql(`drop table if exists "erp_integrations" cascade;`);
  }
}
