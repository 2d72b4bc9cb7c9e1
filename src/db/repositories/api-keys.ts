import type { EntityManager } from '@mikro-orm/postgresql';
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
  const pool = await em.getConnection().getNativeClient();
  const { rows } = await pool.query<ApiKeyCredentialRow>({
    name: 'ledgerflow_api_key_by_hash',
    text: `select id, scopes, organization_id as "organizationId", platform_role as "platformRole",
                  revoked_at as "revokedAt", expires_at as "expiresAt", last_used_at as "lastUsedAt"
             from api_keys where key_hash = $1`,
    values: [keyHash],
  });
  const row = rows[0];
  return row && { ...row, revokedAt: epochMillis(row.revokedAt), expiresAt: epochMillis(row.expiresAt), lastUsedAt: epochMillis(row.lastUsedAt) };
}

export async function recordApiKeyUse(em: EntityManager, id: string, at: Date): Promise<void> {
  await em.getConnection().execute('update api_keys set last_used_at = ? where id = ?', [at, id]);
}
