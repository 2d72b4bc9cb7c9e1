import type { EntityManager } from '@mikro-orm/postgresql';
import pg from 'pg';
import type { Logger } from '../../logger.js';
import { poolOf } from '../orm.js';
import { namedSql } from '../sql.js';
import type { PlatformRole, Scope } from '../entities/index.js';

/** The channel the `api_keys` triggers notify with a key's id when it is revoked, changed or deleted. */
export const apiKeyChangesChannel = 'ledgerflow_api_key_changed';

/** What authentication needs of an API key; instants in epoch milliseconds. */
export interface ApiKeyCredential {
  id: string;
  scopes: Scope[];
  organizationId: string | null;
  platformRole: PlatformRole | null;
  revokedAt: number | null;
  expiresAt: number | null;
  lastUsedAt: number | null;
}

interface ApiKeyCredentialRow {
  id: string;
  scopes: Scope[];
  organizationId: string | null;
  platformRole: PlatformRole | null;
  revokedAt: Date | string | null;
  expiresAt: Date | string | null;
  lastUsedAt: Date | string | null;
}

const epochMillis = (value: Date | string | null) => (value === null ? null : new Date(value).getTime());

/**
 * One indexed lookup by hash on the ORM's own `pg` pool, as a named (prepared once per connection)
 * statement: it runs on every authenticated request, where parsing, planning and entity hydration
 * cost more than the lookup itself.
 */
export async function findApiKeyCredential(em: EntityManager, keyHash: string): Promise<ApiKeyCredential | undefined> {
  const rows = await namedSql<ApiKeyCredentialRow>(await poolOf(em), {
    name: 'ledgerflow_api_key_by_hash',
    text: `select id, scopes, organization_id as "organizationId", platform_role as "platformRole",
                  revoked_at as "revokedAt", expires_at as "expiresAt", last_used_at as "lastUsedAt"
             from api_keys where key_hash = $1`,
    values: [keyHash],
  });
  const row = rows[0];
  return row && { ...row, revokedAt: epochMillis(row.revokedAt), expiresAt: epochMillis(row.expiresAt), lastUsedAt: epochMillis(row.lastUsedAt) };
}

/** On the pool, outside the request's transaction: the use is recorded whatever the request does. */
export async function recordApiKeyUse(em: EntityManager, id: string, at: Date): Promise<void> {
  await namedSql(await poolOf(em), { name: 'ledgerflow_api_key_used', text: 'update api_keys set last_used_at = $1 where id = $2', values: [at, id] });
}

const reconnectDelayMs = 1_000;

/** What hears of API key changes (the API's credential cache): off while changes may go unheard. */
export interface ApiKeyChangeSubscriber {
  forget(id: string): void;
  setActive(active: boolean): void;
}

export interface ApiKeyChangeListener {
  close(): Promise<void>;
}

/**
 * Keeps `cache` in step with `api_keys` through LISTEN on a connection of its own, reconnecting
 * after a drop. Resolves once the first LISTEN is in place (or failed: the cache then stays off).
 */
export async function listenForApiKeyChanges(databaseUrl: string, cache: ApiKeyChangeSubscriber, logger: Logger): Promise<ApiKeyChangeListener> {
  let closed = false;
  let client: pg.Client | undefined;
  let retry: NodeJS.Timeout | undefined;

  const dropped = (failed: pg.Client, error?: Error) => {
    if (client !== failed) return;
    cache.setActive(false);
    client = undefined;
    failed.removeAllListeners();
    failed.on('error', () => undefined);
    void failed.end().catch(() => undefined);
    if (closed) return;
    logger.warn({ err: error }, 'api key change listener lost its connection; key cache off until it is back');
    retry = setTimeout(() => void connect(), reconnectDelayMs);
  };

  const connect = async () => {
    const next = new pg.Client({ connectionString: databaseUrl, application_name: 'ledgerflow-api-key-listener' });
    client = next;
    next.on('error', (error) => dropped(next, error));
    next.on('end', () => dropped(next));
    next.on('notification', (message) => {
      if (message.channel === apiKeyChangesChannel && message.payload) cache.forget(message.payload);
    });
    try {
      await next.connect();
      await next.query(`listen ${apiKeyChangesChannel}`);
      if (client === next && !closed) cache.setActive(true);
    } catch (error) {
      dropped(next, error as Error);
    }
  };

  await connect();
  return {
    close: async () => {
      closed = true;
      clearTimeout(retry);
      cache.setActive(false);
      const current = client;
      client = undefined;
      await current?.end().catch(() => undefined);
    },
  };
}
