import { Migration } from '@mikro-orm/migrations';

export class Migration20261121000000 extends Migration {
  override up(): void {
    this.addSql(`create table "applications" (
      "id" uuid not null,
      "slug" varchar(64) not null,
      "name" varchar(200) not null,
      "created_at" timestamptz not null,
      constraint "applications_pkey" primary key ("id"),
      constraint "applications_slug_format" check ("slug" ~ '^[a-z0-9][a-z0-9-]{0,63}$')
    );`);
    this.addSql(`alter table "applications" add constraint "applications_slug_unique" unique ("slug");`);

    this.addSql(`create table "organizations" (
      "id" uuid not null,
      "name" varchar(200) not null,
      "currency" varchar(3) not null,
      "parent_id" uuid null,
      "billing_email" varchar(320) null,
      "tax_rate_percent" numeric(7,4) not null default '0',
      "payment_terms" text check ("payment_terms" in ('charge_automatically', 'send_invoice')) not null default 'charge_automatically',
      "net_terms_days" int not null default 0,
      "billing_anchor_day" int null,
      "billing_started_at" timestamptz null,
      "created_at" timestamptz not null,
      "updated_at" timestamptz not null,
      constraint "organizations_pkey" primary key ("id"),
      constraint "organizations_currency_format" check ("currency" ~ '^[A-Z]{3}$'),
      constraint "organizations_not_own_parent" check ("parent_id" is null or "parent_id" <> "id"),
      constraint "organizations_tax_rate_range" check ("tax_rate_percent" >= 0 and "tax_rate_percent" <= 100),
      constraint "organizations_net_terms_range" check ("net_terms_days" >= 0 and "net_terms_days" <= 365),
      constraint "organizations_anchor_day_range" check ("billing_anchor_day" is null or ("billing_anchor_day" >= 1 and "billing_anchor_day" <= 31))
    );`);
    this.addSql(`create index "organizations_parent_id_index" on "organizations" ("parent_id");`);
    this.addSql(`alter table "organizations" add constraint "organizations_parent_id_foreign" foreign key ("parent_id") references "organizations" ("id") on delete restrict;`);
  }

  override down(): void {
    this.addSql(`drop table if exists "organizations" cascade;`);
    this.addSql(`drop table if exists "applications" cascade;`);
  }
}
