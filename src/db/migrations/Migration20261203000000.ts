import { Migration } from '@mikro-orm/migrations';

/**
 * A subscription's usage of a metric in a period is bounded (MAX_USAGE_PERIOD_QUANTITY,
 * src/domain/money/limits.ts): the write that would take an aggregate past it fails as a whole, so the
 * events are refused and nothing is recorded (src/usage/ingest.ts).
 */
export class Migration20261203000000 extends Migration {
  override up(): void {
    this.addSql(
      `alter table "usage_aggregates" add constraint "usage_aggregates_quantity_bound" check ("quantity" >= -1000000000000 and "quantity" <= 1000000000000);`,
    );
  }

  override down(): void {
    this.addSql(`alter table "usage_aggregates" drop constraint "usage_aggregates_quantity_bound";`);
  }
}
