import { Migration } from '@mikro-orm/migrations';

/**
 * Disputes (src/domain/dispute/): the disputes `dispute:<id>` mirrors and Stripe's card disputes,
 * their comments; a credit that settles what an invoice owes; a refund's credit note voided when
 * Stripe refuses it for good; the journal's `dispute_losses` account.
 */
export class Migration20261205000000 extends Migration {
  override up(): void {
    this.addSql(`create table "disputes" ("id" uuid not null, "organization_id" uuid not null, "invoice_id" uuid not null, "source" text not null, "stripe_dispute_id" varchar(100) null, "payment_intent_id" varchar(100) null, "amount" bigint not null, "currency" varchar(3) not null, "reason" varchar(60) not null, "description" text null, "status" text not null, "resolution_outcome" text null, "resolution_amount" bigint null, "resolution_comment" text null, "resolved_by" varchar(200) null, "credit_note_id" uuid null, "stripe_refund_id" varchar(100) null, "approval_request_id" uuid null, "last_failure" jsonb null, "opened_by" varchar(200) not null, "stripe_reported_at" timestamptz null, "created_at" timestamptz not null, "updated_at" timestamptz not null, "resolved_at" timestamptz null, primary key ("id"));`);
    this.addSql(`alter table "disputes" add constraint "disputes_stripe_dispute_id_unique" unique ("stripe_dispute_id");`);
    this.addSql(`create index "disputes_organization_index" on "disputes" ("organization_id", "created_at");`);
    this.addSql(`create index "disputes_invoice_index" on "disputes" ("invoice_id");`);
    this.addSql(`create unique index "disputes_one_active_per_invoice" on "disputes" ("invoice_id") where "source" = 'customer' and "status" in ('open', 'under_review', 'pending_approval');`);
    this.addSql(`alter table "disputes" add constraint "disputes_source_check" check ("source" in ('customer', 'stripe'));`);
    this.addSql(`alter table "disputes" add constraint "disputes_status_check" check ("status" in ('open', 'under_review', 'pending_approval', 'resolved', 'rejected', 'withdrawn'));`);
    this.addSql(`alter table "disputes" add constraint "disputes_resolution_outcome_check" check ("resolution_outcome" in ('reject', 'credit', 'refund', 'won', 'lost'));`);
    this.addSql(`alter table "disputes" add constraint "disputes_amount_positive" check ("amount" > 0);`);
    this.addSql(`alter table "disputes" add constraint "disputes_organization_id_foreign" foreign key ("organization_id") references "organizations" ("id") on delete cascade;`);
    this.addSql(`alter table "disputes" add constraint "disputes_invoice_id_foreign" foreign key ("invoice_id") references "invoices" ("id");`);
    this.addSql(`alter table "disputes" add constraint "disputes_credit_note_id_foreign" foreign key ("credit_note_id") references "credit_notes" ("id");`);
    this.addSql(`create table "dispute_comments" ("id" uuid not null, "dispute_id" uuid not null, "user_id" varchar(200) not null, "by_operator" boolean not null, "body" text not null, "created_at" timestamptz not null, primary key ("id"));`);
    this.addSql(`create index "dispute_comments_dispute_index" on "dispute_comments" ("dispute_id", "created_at");`);
    this.addSql(`alter table "dispute_comments" add constraint "dispute_comments_dispute_id_foreign" foreign key ("dispute_id") references "disputes" ("id") on delete cascade;`);
    this.addSql(`alter table "invoices" add column "credited_to_receivable" bigint not null default '0';`);
    this.addSql(`alter table "invoices" add constraint "invoices_credited_to_receivable_within_credit" check ("credited_to_receivable" >= 0 and "credited_to_receivable" <= "amount_credited");`);
    this.addSql(`alter table "credit_notes" add column "voided_at" timestamptz null;`);
    this.addSql(`alter table "journal_lines" drop constraint "journal_lines_account_check";`);
    this.addSql(`alter table "journal_lines" add constraint "journal_lines_account_check" check ("account" in ('accounts_receivable', 'revenue', 'tax_payable', 'cash', 'customer_credit', 'bad_debt', 'dispute_losses'));`);
  }

  override down(): void {
    this.addSql(`alter table "journal_lines" drop constraint "journal_lines_account_check";`);
    this.addSql(`alter table "journal_lines" add constraint "journal_lines_account_check" check ("account" in ('accounts_receivable', 'revenue', 'tax_payable', 'cash', 'customer_credit', 'bad_debt'));`);
    this.addSql(`alter table "credit_notes" drop column "voided_at";`);
    this.addSql(`alter table "invoices" drop constraint "invoices_credited_to_receivable_within_credit";`);
    this.addSql(`alter table "invoices" drop column "credited_to_receivable";`);
    this.addSql(`drop table if exists "dispute_comments" cascade;`);
    this.addSql(`drop table if exists "disputes" cascade;`);
  }
}
