import { Migration } from '@mikro-orm/migrations';

/** `api_keys` notifies the processes that cache credentials when a key is revoked, changed or deleted. */
export class Migration20261121060000 extends Migration {
  override up(): void {
    this.addSql(`create or replace function "api_keys_api_keys_notify_changed_fn"() returns trigger as $$ begin if (old.revoked_at, old.expires_at, old.scopes, old.platform_role, old.organization_id, old.key_hash)
        is distinct from (new.revoked_at, new.expires_at, new.scopes, new.platform_role, new.organization_id, new.key_hash)
      then perform pg_notify('ledgerflow_api_key_changed', new.id::text); end if; return null; end; $$ language plpgsql;`);
    this.addSql(`create trigger "api_keys_notify_changed" AFTER UPDATE on "api_keys" for each ROW execute function "api_keys_api_keys_notify_changed_fn"();`);
    this.addSql(`create or replace function "api_keys_api_keys_notify_deleted_fn"() returns trigger as $$ begin perform pg_notify('ledgerflow_api_key_changed', old.id::text); return null; end; $$ language plpgsql;`);
    this.addSql(`create trigger "api_keys_notify_deleted" AFTER DELETE on "api_keys" for each ROW execute function "api_keys_api_keys_notify_deleted_fn"();`);
  }

  override down(): void {
    this.addSql(`drop trigger if exists "api_keys_notify_changed" on "api_keys";`);
    this.addSql(`drop trigger if exists "api_keys_notify_deleted" on "api_keys";`);
    this.addSql(`drop function if exists "api_keys_api_keys_notify_changed_fn"();`);
    this.addSql(`drop function if exists "api_keys_api_keys_notify_deleted_fn"();`);
  }
}
