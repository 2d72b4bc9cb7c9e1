import { Migration } from '@mikro-orm/migrations';

/** Stripe: each organization's customer and default payment method, and the Stripe events received (once per event id). */
export class Migration20261121050000 extends Migration {
  override up(): void {
    this.addSql(`create table "stripe_events" ("id" varchar(255) not null, "type" varchar(100) not null, "payload" jsonb not null, "received_at" timestamptz not null, "processed_at" timestamptz null, "outcome" varchar(500) null, primary key ("id"));`);
    this.addSql(`alter table "organizations" add "stripe_customer_id" varchar(255) null, add "stripe_default_payment_method_id" varchar(255) null, add "stripe_default_payment_method_set_at" timestamptz null;`);
    this.addSql(`alter table "organizations" add constraint "organizations_stripe_customer_id_unique" unique ("stripe_customer_id");`);
  }

  override down(): void {
    this.addSql(`alter table "organizations" drop constraint "organizations_stripe_customer_id_unique";`);
    this.addSql(`alter table "organizations" drop column "stripe_customer_id", drop column "stripe_default_payment_method_id", drop column "stripe_default_payment_method_set_at";`);
    this.addSql(`drop table if exists "stripe_events" cascade;`);
  }
}
