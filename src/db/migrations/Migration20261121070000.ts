import { Migration } from '@mikro-orm/migrations';

/** Invoices and their lines, gapless numbering, payments, credit notes and the double-entry journal. */
export class Migration20261121070000 extends Migration {
  override up(): void {
    this.addSql(`create table "invoice_number_sequences" ("prefix" varchar(40) not null, "next_number" bigint not null, primary key ("prefix"));`);
    this.addSql(`create table "invoices" ("id" uuid not null, "organization_id" uuid not null, "billing_date" timestamptz not null, "number" varchar(64) null, "status" text not null, "currency" varchar(3) not null, "collection_method" text not null, "period_start" timestamptz not null, "period_end" timestamptz not null, "subtotal" bigint not null, "discount" bigint not null, "tax" bigint not null, "total" bigint not null, "credit_applied" bigint not null, "amount_due" bigint not null, "amount_paid" bigint not null, "amount_credited" bigint not null, "due_at" timestamptz null, "finalized_at" timestamptz null, "paid_at" timestamptz null, "voided_at" timestamptz null, "marked_uncollectible_at" timestamptz null, "created_at" timestamptz not null, "updated_at" timestamptz not null, primary key ("id"));`);
    this.addSql(`alter table "invoices" add constraint "invoices_number_unique" unique ("number");`);
    this.addSql(`alter table "invoices" add constraint "invoices_organization_billing_date_unique" unique ("organization_id", "billing_date");`);
    this.addSql(`create table "journal_entries" ("id" uuid not null, "organization_id" uuid not null, "invoice_id" uuid null, "source_key" varchar(200) not null, "description" varchar(300) not null, "currency" varchar(3) not null, "posted_at" timestamptz not null, primary key ("id"));`);
    this.addSql(`alter table "journal_entries" add constraint "journal_entries_source_key_unique" unique ("source_key");`);
    this.addSql(`create index "journal_entries_invoice_id_index" on "journal_entries" ("invoice_id");`);
    this.addSql(`create table "journal_lines" ("id" uuid not null, "entry_id" uuid not null, "account" text not null, "debit" bigint not null, "credit" bigint not null, primary key ("id"));`);
    this.addSql(`create index "journal_lines_entry_id_index" on "journal_lines" ("entry_id");`);
    this.addSql(`create table "invoice_lines" ("id" uuid not null, "invoice_id" uuid not null, "position" int not null, "key" varchar(300) not null, "type" varchar(20) not null, "description" varchar(500) not null, "organization_id" uuid not null, "subscription_id" uuid null, "department_id" uuid null, "metric_code" varchar(100) null, "coupon_id" varchar(100) null, "quantity" varchar(60) not null, "unit_amount" bigint null, "amount" bigint not null, "period_start" timestamptz not null, "period_end" timestamptz not null, primary key ("id"));`);
    this.addSql(`alter table "invoice_lines" add constraint "invoice_lines_invoice_position_unique" unique ("invoice_id", "position");`);
    this.addSql(`create table "credit_notes" ("id" uuid not null, "invoice_id" uuid not null, "number" varchar(64) not null, "amount" bigint not null, "reason" varchar(500) not null, "disposition" text not null, "stripe_refund_id" varchar(100) null, "created_by" varchar(200) not null, "created_at" timestamptz not null, primary key ("id"));`);
    this.addSql(`alter table "credit_notes" add constraint "credit_notes_number_unique" unique ("number");`);
    this.addSql(`create index "credit_notes_invoice_id_index" on "credit_notes" ("invoice_id");`);
    this.addSql(`create table "payments" ("id" uuid not null, "invoice_id" uuid not null, "amount" bigint not null, "currency" varchar(3) not null, "method" text not null, "reference" varchar(200) not null, "received_at" timestamptz not null, "recorded_by" varchar(200) not null, "created_at" timestamptz not null, primary key ("id"));`);
    this.addSql(`create index "payments_invoice_id_index" on "payments" ("invoice_id");`);
    this.addSql(`alter table "payments" add constraint "payments_method_reference_unique" unique ("method", "reference");`);
    this.addSql(`alter table "invoices" add constraint "invoices_organization_id_foreign" foreign key ("organization_id") references "organizations" ("id") on delete restrict;`);
    this.addSql(`alter table "invoices" add constraint "invoices_amounts_non_negative" check ("total" >= 0 and "amount_due" >= 0 and "amount_paid" >= 0 and "amount_credited" >= 0 and "credit_applied" >= 0);`);
    this.addSql(`alter table "invoices" add constraint "invoices_numbered_when_final" check (("status" = 'draft') = ("number" is null));`);
    this.addSql(`alter table "invoices" add constraint "invoices_status_check" check ("status" in ('draft', 'open', 'paid', 'void', 'uncollectible'));`);
    this.addSql(`alter table "invoices" add constraint "invoices_collection_method_check" check ("collection_method" in ('charge_automatically', 'send_invoice'));`);
    this.addSql(`alter table "journal_entries" add constraint "journal_entries_organization_id_foreign" foreign key ("organization_id") references "organizations" ("id") on delete restrict;`);
    this.addSql(`alter table "journal_entries" add constraint "journal_entries_invoice_id_foreign" foreign key ("invoice_id") references "invoices" ("id") on delete restrict;`);
    this.addSql(`alter table "journal_lines" add constraint "journal_lines_entry_id_foreign" foreign key ("entry_id") references "journal_entries" ("id") on delete cascade;`);
    this.addSql(`alter table "journal_lines" add constraint "journal_lines_one_side" check ("debit" >= 0 and "credit" >= 0 and ("debit" = 0) <> ("credit" = 0));`);
    this.addSql(`alter table "journal_lines" add constraint "journal_lines_account_check" check ("account" in ('accounts_receivable', 'revenue', 'tax_payable', 'cash', 'customer_credit', 'bad_debt'));`);
    this.addSql(`alter table "invoice_lines" add constraint "invoice_lines_invoice_id_foreign" foreign key ("invoice_id") references "invoices" ("id") on delete cascade;`);
    this.addSql(`alter table "credit_notes" add constraint "credit_notes_invoice_id_foreign" foreign key ("invoice_id") references "invoices" ("id") on delete restrict;`);
    this.addSql(`alter table "credit_notes" add constraint "credit_notes_amount_positive" check ("amount" > 0);`);
    this.addSql(`alter table "credit_notes" add constraint "credit_notes_disposition_check" check ("disposition" in ('credit_balance', 'refund'));`);
    this.addSql(`alter table "payments" add constraint "payments_invoice_id_foreign" foreign key ("invoice_id") references "invoices" ("id") on delete restrict;`);
    this.addSql(`alter table "payments" add constraint "payments_amount_positive" check ("amount" > 0);`);
    this.addSql(`alter table "payments" add constraint "payments_method_check" check ("method" in ('stripe', 'wire', 'check', 'other'));`);
  }

  override down(): void {
    this.addSql(`drop table if exists "journal_lines" cascade;`);
    this.addSql(`drop table if exists "journal_entries" cascade;`);
    this.addSql(`drop table if exists "credit_notes" cascade;`);
    this.addSql(`drop table if exists "payments" cascade;`);
    this.addSql(`drop table if exists "invoice_lines" cascade;`);
    this.addSql(`drop table if exists "invoices" cascade;`);
    this.addSql(`drop table if exists "invoice_number_sequences" cascade;`);
  }
}
