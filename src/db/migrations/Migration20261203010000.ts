import { Migration } from '@mikro-orm/migrations';

/**
 * Approvals (src/domain/approval/): rules, the requests `approval:<id>` mirrors, and their
 * comments. A request keeps a snapshot of its rule's levels, so no foreign key ties it to the rule.
 */
export class Migration20261203010000 extends Migration {
  override up(): void {
    this.addSql(`create table "approval_rules" ("id" uuid not null, "name" varchar(200) not null, "subject_type" text not null, "organization_id" uuid null, "min_amount" bigint not null, "currency" varchar(3) null, "levels" jsonb not null, "created_by" varchar(200) not null, "created_at" timestamptz not null, "updated_at" timestamptz not null, primary key ("id"));`);
    this.addSql(`create index "approval_rules_subject_type_index" on "approval_rules" ("subject_type");`);
    this.addSql(`create table "approval_requests" ("id" uuid not null, "organization_id" uuid not null, "subject_type" text not null, "subject_id" varchar(200) null, "subject_payload" jsonb not null, "title" varchar(200) not null, "description" text null, "amount" bigint null, "currency" varchar(3) null, "requested_by" varchar(200) not null, "rule_id" uuid null, "status" text not null, "current_level" int not null, "current_role" varchar(32) null, "current_approvers" text[] not null, "decided_by" text[] not null, "levels" jsonb not null, "timeline" jsonb not null, "execution" jsonb null, "version" int not null, "created_at" timestamptz not null, "decided_at" timestamptz null, primary key ("id"));`);
    this.addSql(`create index "approval_requests_inbox_index" on "approval_requests" ("status", "current_role", "created_at");`);
    this.addSql(`create index "approval_requests_organization_index" on "approval_requests" ("organization_id", "created_at");`);
    this.addSql(`create table "approval_comments" ("id" uuid not null, "request_id" uuid not null, "user_id" varchar(200) not null, "body" text not null, "created_at" timestamptz not null, primary key ("id"));`);
    this.addSql(`create index "approval_comments_request_index" on "approval_comments" ("request_id", "created_at");`);
    this.addSql(`alter table "approval_rules" add constraint "approval_rules_organization_id_foreign" foreign key ("organization_id") references "organizations" ("id") on delete cascade;`);
    this.addSql(`alter table "approval_rules" add constraint "approval_rules_subject_type_check" check ("subject_type" in ('credit_note', 'refund', 'dispute_resolution', 'contract_amendment', 'seat_increase', 'plan_change', 'budget_exception', 'manual'));`);
    this.addSql(`alter table "approval_requests" add constraint "approval_requests_organization_id_foreign" foreign key ("organization_id") references "organizations" ("id") on delete cascade;`);
    this.addSql(`alter table "approval_requests" add constraint "approval_requests_subject_type_check" check ("subject_type" in ('credit_note', 'refund', 'dispute_resolution', 'contract_amendment', 'seat_increase', 'plan_change', 'budget_exception', 'manual'));`);
    this.addSql(`alter table "approval_requests" add constraint "approval_requests_status_check" check ("status" in ('pending', 'approved', 'rejected', 'expired', 'canceled'));`);
    this.addSql(`alter table "approval_comments" add constraint "approval_comments_request_id_foreign" foreign key ("request_id") references "approval_requests" ("id") on delete cascade;`);
  }

  override down(): void {
    this.addSql(`drop table if exists "approval_comments" cascade;`);
    this.addSql(`drop table if exists "approval_requests" cascade;`);
    this.addSql(`drop table if exists "approval_rules" cascade;`);
  }
}
