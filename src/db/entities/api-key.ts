import { defineEntity, p } from '@mikro-orm/core';
import { Organization } from './organization.js';

export const scopeValues = ['read', 'write', 'usage:write', 'seats:verify'] as const;
export type Scope = (typeof scopeValues)[number];
export const platformRoleValues = ['platform_admin', 'finance'] as const;
export type PlatformRole = (typeof platformRoleValues)[number];

/**
 * An API key. Only the SHA-256 of the key is stored: keys carry 256 bits of randomness, so a
 * fast hash cannot be brute-forced, and lookups stay one indexed equality.
 */
const ApiKeySchema = defineEntity({
  name: 'ApiKey',
  tableName: 'api_keys',
  properties: {
    id: p.uuid().primary(),
    name: p.string().length(200),
    /** The key's first characters (type prefix and a few more), to recognise it in a list. */
    displayPrefix: p.string().length(32),
    keyHash: p.string().length(64).unique(),
    scopes: p.array<Scope>(),
    /** A key with an organization is confined to it and its children. */
    organization: () => p.manyToOne(Organization).nullable().deleteRule('cascade'),
    /** Keys without an organization act with a platform role. */
    platformRole: p.enum(platformRoleValues).nullable(),
    createdBy: p.string().length(200),
    expiresAt: p.datetime().nullable(),
    revokedAt: p.datetime().nullable(),
    lastUsedAt: p.datetime().nullable(),
    createdAt: p.datetime().onCreate(() => new Date()),
  },
  indexes: [{ name: 'api_keys_organization_id_index', properties: ['organization'] }],
  // Processes cache credentials (src/api/auth/credential-cache.ts); these tell them what changed,
  // whichever way the change was made. `last_used_at` alone changes nothing they cache.
  triggers: [
    {
      name: 'api_keys_notify_changed',
      timing: 'after',
      events: ['update'],
      body: `if (old.revoked_at, old.expires_at, old.scopes, old.platform_role, old.organization_id, old.key_hash)
        is distinct from (new.revoked_at, new.expires_at, new.scopes, new.platform_role, new.organization_id, new.key_hash)
      then perform pg_notify('ledgerflow_api_key_changed', new.id::text); end if; return null;`,
    },
    {
      name: 'api_keys_notify_deleted',
      timing: 'after',
      events: ['delete'],
      body: `perform pg_notify('ledgerflow_api_key_changed', old.id::text); return null;`,
    },
  ],
  checks: [
    {
      name: 'api_keys_confined_or_platform',
      expression: '("organization_id" is null) <> ("platform_role" is null)',
    },
  ],
});

export class ApiKey extends ApiKeySchema.class {}
ApiKeySchema.setClass(ApiKey);
