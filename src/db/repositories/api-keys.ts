import type { EntityManager } from '@mikro-orm/postgresql';
import type { PlatformRole, Scope } from '../entities/index.js';

/** What authentication needs of an API key at one instant. */
export interface ApiKeyCredential {
  id: string;
  scopes: Scope[];
  organizationId: string | null;
  platformRole: PlatformRole | null;
  /** Neither revoked nor expired at that instant. */
  usable: boolean;
  /** `lastUsedAt` is older than the resolution asked for (or unset), so it wants refreshing. */
  lastUseStale: boolean;
}

/**
 * One indexed lookup by hash, as plain SQL: it runs on every authenticated request, where entity
 * hydration and the identity map cost more than the query itself.
 */
export async function findApiKeyCredential(
  em: EntityManager,
  keyHash: string,
  at: Date,
  lastUseResolutionMs: number,
): Promise<ApiKeyCredential | undefined> {
  const [row] = await em.getConnection().execute<ApiKeyCredential[]>(
    `select id, scopes, organization_id as "organizationId", platform_role as "platformRole",
            revoked_at is null and (expires_at is null or expires_at > ?) as usable,
            last_used_at is null or last_used_at < ? as "lastUseStale"
       from api_keys where key_hash = ?`,
    [at, new Date(at.getTime() - lastUseResolutionMs), keyHash],
  );
  return row;
}

export async function recordApiKeyUse(em: EntityManager, id: string, at: Date): Promise<void> {
  await em.getConnection().execute('update api_keys set last_used_at = ? where id = ?', [at, id]);
}
