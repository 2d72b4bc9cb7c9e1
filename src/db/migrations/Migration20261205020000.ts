import { Migration } from '@mikro-orm/migrations';

/** Budgets (src/domain/budget/): budgets, the thresholds each fired per period, and subscriptions' cost allocations. */
export class Migration20261205020000 extends Migration {
  override up(): void {
    this.addSql(`create table "budgets" ("id" uuid not null, "organization_id" uuid not null, "department_id" uuid null, "name" varchar(200) not null, "period" text not null, "amount" bigint not null, "currency" varchar(3) not null, "alert_thresholds" jsonb not null, "enforcement" text not null, "created_by" varchar(200) not null, "created_at" timestamptz not null, "updated_at" timestamptz not null, primary key ("id"));`);
    this.addSql(`create index "budgets_organization_index" on "budgets" ("organization_id");`);
    this.addSql(`alter table "budgets" add constraint "budgets_period_check" check ("period" in ('month', 'quarter', 'year'));`);
    this.addSql(`alter table "budgets" add constraint "budgets_enforcement_check" check ("enforcement" in ('none', 'approval', 'block'));`);
    this.addSql(`alter table "budgets" add constraint "budgets_amount_non_negative" check ("amount" >= 0);`);
    this.addSql(`alter table "budgets" add constraint "budgets_organization_id_foreign" foreign key ("organization_id") references "organizations" ("id") on delete cascade;`);
    this.addSql(`alter table "budgets" add constraint "budgets_department_id_foreign" foreign key ("department_id") references "departments" ("id") on delete cascade;`);
    this.addSql(`create table "budget_alerts" ("id" uuid not null, "budget_id" uuid not null, "period_start" timestamptz not null, "threshold" int not null, "crossed_at" timestamptz not null, "spent" bigint not null, primary key ("id"));`);
    this.addSql(`alter table "budget_alerts" add constraint "budget_alerts_once_per_period" unique ("budget_id", "period_start", "threshold");`);
    this.addSql(`alter table "budget_alerts" add constraint "budget_alerts_budget_id_foreign" foreign key ("budget_id") references "budgets" ("id") on delete cascade;`);
    this.addSql(`create table "subscription_cost_allocations" ("subscription_id" uuid not null, "effective_from" timestamptz not null, "allocations" jsonb not null, "created_at" timestamptz not null, primary key ("subscription_id", "effective_from"));`);
    this.addSql(`alter table "subscription_cost_allocations" add constraint "subscription_cost_allocations_subscription_id_foreign" foreign key ("subscription_id") references "subscriptions" ("id") on delete cascade;`);
  }

  override down(): void {
    this.addSql(`drop table if exists "subscription_cost_allocations" cascade;`);
    this.addSql(`drop table if exists "budget_alerts" cascade;`);
    this.addSql(`drop table if exists "budgets" cascade;`);
  }
}
