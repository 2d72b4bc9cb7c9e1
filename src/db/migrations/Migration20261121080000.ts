import { Migration } from '@mikro-orm/migrations';

/** A refund credit note names the Stripe payment it refunded, so no payment is refunded beyond its amount. */
export class Migration20261121080000 extends Migration {
  override up(): void {
    this.addSql(`alter table "credit_notes" add "payment_id" uuid null;`);
    this.addSql(
      `alter table "credit_notes" add constraint "credit_notes_payment_id_foreign" foreign key ("payment_id") references "payments" ("id") on delete restrict;`,
    );
  }

  override down(): void {
    this.addSql(`alter table "credit_notes" drop constraint "credit_notes_payment_id_foreign";`);
    this.addSql(`alter table "credit_notes" drop column "payment_id";`);
  }
}
