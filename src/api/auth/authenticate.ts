import { createHash, timingSafeEqual } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { MiddlewareHandler } from 'hono';
import { createRemoteJWKSet, jwtVerify, type JWTVerifyGetKey } from 'jose';
import { Member, platformRoleValues, scopeValues, type PlatformRole } from '../../db/entities/index.js';
import { findApiKeyCredential, recordApiKeyUse } from '../../db/repositories/api-keys.js';
import type { ApiConfig, AppEnv } from '../context.js';
import { ApiError } from '../problem.js';
import { apiKeyPrefix, hashApiKey } from './api-keys.js';
import type { Principal } from './policy.js';

const digest = (value: string) => createHash('sha256').update(value).digest();
/** `lastUsedAt` is refreshed at most this often, so reads do not become writes. */
const lastUsedResolutionMs = 60_000;

type JwtKey = Uint8Array | JWTVerifyGetKey;

function jwtKey(config: ApiConfig): JwtKey | undefined {
  if (config.JWT_JWKS_URL) return createRemoteJWKSet(new URL(config.JWT_JWKS_URL));
  if (config.JWT_HS256_SECRET) return new TextEncoder().encode(config.JWT_HS256_SECRET);
  return undefined;
}

const invalid = () =>
  new ApiError(401, 'invalid_credentials', 'The credentials are not valid, have expired or were revoked.', undefined, {
    'www-authenticate': 'Bearer error="invalid_token"',
  });

async function apiKeyPrincipal(em: EntityManager, key: string, now: Date): Promise<Principal> {
  const apiKey = await findApiKeyCredential(em, hashApiKey(key), now, lastUsedResolutionMs);
  if (!apiKey?.usable) throw invalid();
  if (apiKey.lastUseStale) await recordApiKeyUse(em, apiKey.id, now);
  return {
    kind: 'api_key',
    id: apiKey.id,
    platformRole: apiKey.platformRole,
    scopes: apiKey.scopes,
    confinedTo: apiKey.organizationId,
    memberships: new Map(),
  };
}

async function userPrincipal(em: EntityManager, token: string, key: JwtKey, config: ApiConfig): Promise<Principal> {
  const options = {
    algorithms: key instanceof Uint8Array ? ['HS256'] : ['RS256', 'ES256', 'PS256', 'EdDSA'],
    ...(config.JWT_ISSUER ? { issuer: config.JWT_ISSUER } : {}),
    ...(config.JWT_AUDIENCE ? { audience: config.JWT_AUDIENCE } : {}),
  };
  const { payload } = await (key instanceof Uint8Array ? jwtVerify(token, key, options) : jwtVerify(token, key, options)).catch(() => {
    throw invalid();
  });
  if (!payload.sub) throw invalid();
  const claimedRole = payload.platform_role;
  const platformRole = platformRoleValues.find((role) => role === claimedRole) ?? null;
  const members = await em.find(Member, { userId: payload.sub });
  return {
    kind: 'user',
    id: `user:${payload.sub}`,
    platformRole: platformRole satisfies PlatformRole | null,
    scopes: ['read', 'write'],
    confinedTo: null,
    memberships: new Map(members.map((member) => [member.organization.id, member.role])),
  };
}

/**
 * Resolves `Authorization: Bearer …` to a principal: the operator's bootstrap key, an API key
 * (`lf_sk_…`, looked up by hash), or a person's JWT mapped to their memberships.
 */
export function authenticate(config: ApiConfig): MiddlewareHandler<AppEnv> {
  const key = jwtKey(config);
  const bootstrapDigest = config.LEDGERFLOW_ADMIN_KEY ? digest(config.LEDGERFLOW_ADMIN_KEY) : undefined;
  return async (c, next) => {
    const match = /^Bearer\s+(\S+)$/i.exec(c.req.header('authorization') ?? '');
    const token = match?.[1];
    if (!token) {
      throw new ApiError(401, 'unauthenticated', 'Send `Authorization: Bearer <api key or JWT>`.', undefined, {
        'www-authenticate': 'Bearer',
      });
    }
    let principal: Principal;
    if (bootstrapDigest && timingSafeEqual(digest(token), bootstrapDigest)) {
      principal = {
        kind: 'bootstrap_key',
        id: 'bootstrap',
        platformRole: 'platform_admin',
        scopes: scopeValues,
        confinedTo: null,
        memberships: new Map(),
      };
    } else if (token.startsWith(apiKeyPrefix)) {
      principal = await apiKeyPrincipal(c.var.orm.em, token, c.var.clock.now());
    } else if (key && token.split('.').length === 3) {
      principal = await userPrincipal(c.var.orm.em.fork(), token, key, config);
    } else {
      throw invalid();
    }
    c.set('principal', principal);
    c.set('logger', c.var.logger.child({ principal: principal.id }));
    await next();
  };
}
