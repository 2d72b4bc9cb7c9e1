import { createHash, randomBytes } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import { ApiKey, Organization, type PlatformRole, type Scope } from '../../db/entities/index.js';

/** Every Ledgerflow API key starts with this, so scanners and people recognise one. */
export const apiKeyPrefix = 'lf_sk_';

export function hashApiKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

/** A new key: 256 random bits after the typed prefix. Only its hash is ever stored. */
export function generateApiKey(): { key: string; hash: string; displayPrefix: string } {
  const key = `${apiKeyPrefix}${randomBytes(32).toString('base64url')}`;
  return { key, hash: hashApiKey(key), displayPrefix: key.slice(0, apiKeyPrefix.length + 6) };
}

export interface ApiKeyRequest {
  name: string;
  scopes: Scope[];
  organizationId?: string | undefined;
  platformRole?: PlatformRole | undefined;
  expiresAt?: Date | undefined;
}

/**
 * Persists a new key (the API and the CLI both issue keys this way). The returned `key` exists
 * only in memory: show it once and drop it.
 */
export function issueApiKey(em: EntityManager, request: ApiKeyRequest, createdBy: string): { apiKey: ApiKey; key: string } {
  const { key, hash, displayPrefix } = generateApiKey();
  const apiKey = em.create(ApiKey, {
    id: crypto.randomUUID(),
    name: request.name,
    displayPrefix,
    keyHash: hash,
    scopes: request.scopes,
    organization: request.organizationId ? em.getReference(Organization, request.organizationId) : null,
    platformRole: request.organizationId ? null : (request.platformRole ?? 'platform_admin'),
    createdBy,
    expiresAt: request.expiresAt ?? null,
  });
  return { apiKey, key };
}
