import { Migration } from '@mikro-orm/migrations';

/** Contracts (src/domain/contract/): the contracts `contract:<id>` mirrors, their versions, amendments and SLA breaches. */
export class Migration20261205010000 extends Migration {
  override up(): void {
    this.addSql(`create table "contracts" ("id" uuid not null, "organization_id" uuid not null, "name" varchar(200) not null, "status" text not null, "start_date" timestamptz not null, "end_date" timestamptz not null, "auto_renew" boolean not null, "renewal_term_months" int not null, "renewal_uplift_percent" varchar(20) not null, "notice_days" int not null, "termination_fee" bigint not null, "terminates_on" timestamptz null, "termination_reason" text null, "notice_sent_for" timestamptz null, "version" int not null, "created_by" varchar(200) not null, "created_at" timestamptz not null, "updated_at" timestamptz not null, primary key ("id"));`);
    this.addSql(`create index "contracts_organization_index" on "contracts" ("organization_id", "start_date");`);
    this.addSql(`alter table "contracts" add constraint "contracts_status_check" check ("status" in ('draft', 'active', 'renewing', 'expired', 'terminated'));`);
    this.addSql(`alter table "contracts" add constraint "contracts_term_positive" check ("end_date" > "start_date");`);
    this.addSql(`alter table "contracts" add constraint "contracts_organization_id_foreign" foreign key ("organization_id") references "organizations" ("id") on delete cascade;`);
    this.addSql(`create table "contract_versions" ("contract_id" uuid not null, "version" int not null, "effective_from" timestamptz not null, "terms" jsonb not null, "reason" text not null, "created_at" timestamptz not null, primary key ("contract_id", "version"));`);
    this.addSql(`alter table "contract_versions" add constraint "contract_versions_contract_id_foreign" foreign key ("contract_id") references "contracts" ("id") on delete cascade;`);
    this.addSql(`create table "contract_amendments" ("id" uuid not null, "contract_id" uuid not null, "changes" jsonb not null, "effective_at" timestamptz not null, "reason" text not null, "status" text not null, "version" int null, "approval_request_id" uuid null, "requested_by" varchar(200) not null, "created_at" timestamptz not null, "decided_at" timestamptz null, primary key ("id"));`);
    this.addSql(`create index "contract_amendments_contract_index" on "contract_amendments" ("contract_id", "created_at");`);
    this.addSql(`alter table "contract_amendments" add constraint "contract_amendments_status_check" check ("status" in ('pending_approval', 'applied', 'rejected'));`);
    this.addSql(`alter table "contract_amendments" add constraint "contract_amendments_contract_id_foreign" foreign key ("contract_id") references "contracts" ("id") on delete cascade;`);
    this.addSql(`create table "contract_sla_breaches" ("id" uuid not null, "contract_id" uuid not null, "period_start" timestamptz not null, "period_end" timestamptz not null, "measured_uptime_percent" varchar(20) not null, "recorded_by" varchar(200) not null, "created_at" timestamptz not null, primary key ("id"));`);
    this.addSql(`alter table "contract_sla_breaches" add constraint "contract_sla_breaches_period_unique" unique ("contract_id", "period_start");`);
    this.addSql(`alter table "contract_sla_breaches" add constraint "contract_sla_breaches_contract_id_foreign" foreign key ("contract_id") references "contracts" ("id") on delete cascade;`);
  }

  override down(): void {
    this.addSql(`drop table if exists "contract_sla_breaches" cascade;`);
    this.addSql(`drop table if exists "contract_amendments" cascade;`);
    this.addSql(`drop table if exists "contract_versions" cascade;`);
    this.addSql(`drop table if exists "contracts" cascade;`);
  }
}
