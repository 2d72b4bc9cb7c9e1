import { createHash, timingSafeEqual } from 'node:crypto';
import type { HttpBindings } from '@hono/node-server';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { Context, MiddlewareHandler } from 'hono';
import { createRemoteJWKSet, jwtVerify, type JWTVerifyGetKey } from 'jose';
import { Member, platformRoleValues, scopeValues, type PlatformRole } from '../../db/entities/index.js';
import { findApiKeyCredential, recordApiKeyUse, type ApiKeyCredential } from '../../db/repositories/api-keys.js';
import { configDefaults } from '../../config.js';
import type { ApiConfig, AppEnv } from '../http/context.js';
import { clientAddress, type RateLimiter } from '../middleware/rate-limit.js';
import type { ApiKeyCredentialCache } from './credential-cache.js';
import { ApiError } from '../http/problem.js';
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

const usable = (credential: ApiKeyCredential, now: number) => credential.revokedAt === null && (credential.expiresAt === null || credential.expiresAt > now);
const usedRecently = (credential: ApiKeyCredential, now: number) => credential.lastUsedAt !== null && credential.lastUsedAt >= now - lastUsedResolutionMs;

const apiKeyPrincipalOf = (credential: ApiKeyCredential): Principal => ({
  kind: 'api_key',
  id: credential.id,
  platformRole: credential.platformRole,
  scopes: credential.scopes,
  confinedTo: credential.organizationId,
  memberships: new Map(),
});

async function apiKeyPrincipal(em: EntityManager, cache: ApiKeyCredentialCache | undefined, key: string, now: number): Promise<Principal> {
  const hash = hashApiKey(key);
  let credential = cache?.get(hash);
  if (!credential) {
    const ticket = cache?.ticket() ?? 0;
    credential = await findApiKeyCredential(em, hash);
    if (credential) cache?.set(hash, credential, ticket);
  }
  if (!credential || !usable(credential, now)) throw invalid();
  if (!usedRecently(credential, now)) {
    await recordApiKeyUse(em, credential.id, new Date(now));
    credential.lastUsedAt = now;
  }
  return apiKeyPrincipalOf(credential);
}

/**
 * The principal of an `Authorization` header when it needs nothing but memory: an API key whose
 * credential is cached, usable, and whose use was recorded recently. Anything else (a JWT, the
 * operator key, a key to look up or to mark used, no header) is undefined: the full middleware
 * answers it.
 */
export function cachedApiKeyPrincipal(cache: ApiKeyCredentialCache | undefined, authorization: string | undefined, now: number): Principal | undefined {
  const token = authorization === undefined ? undefined : /^Bearer\s+(\S+)$/i.exec(authorization)?.[1];
  if (!cache || token === undefined || !token.startsWith(apiKeyPrefix)) return undefined;
  const credential = cache.get(hashApiKey(token));
  return credential && usable(credential, now) && usedRecently(credential, now) ? apiKeyPrincipalOf(credential) : undefined;
}

async function userPrincipal(em: EntityManager, token: string, key: JwtKey, config: ApiConfig, now: number): Promise<Principal> {
  const options = {
    algorithms: key instanceof Uint8Array ? ['HS256'] : ['RS256', 'ES256', 'PS256', 'EdDSA'],
    // A token without `exp` would be good forever, wherever it leaks.
    requiredClaims: ['exp'],
    currentDate: new Date(now),
    ...(config.JWT_ISSUER ? { issuer: config.JWT_ISSUER } : {}),
    ...(config.JWT_AUDIENCE ? { audience: config.JWT_AUDIENCE } : {}),
  };
  const { payload } = await (key instanceof Uint8Array ? jwtVerify(token, key, options) : jwtVerify(token, key, options)).catch(() => {
    throw invalid();
  });
  if (!payload.sub) throw invalid();
  const lifetime = payload.exp! - (payload.iat ?? Math.floor(now / 1000));
  if (lifetime > (config.JWT_MAX_LIFETIME_SECONDS ?? configDefaults.JWT_MAX_LIFETIME_SECONDS)) throw invalid();
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
 *
 * Each refusal (401) takes a token from the client address's bucket in `failures`; with none left
 * the refusal is a 429 instead. Credentials are checked first, so valid ones always work: the limit
 * bounds what guessing and broken clients cost, it never locks out a neighbour behind the same address.
 */
export function authenticate(config: ApiConfig, failures: RateLimiter): MiddlewareHandler<AppEnv> {
  const key = jwtKey(config);
  const bootstrapDigest = config.LEDGERFLOW_ADMIN_KEY ? digest(config.LEDGERFLOW_ADMIN_KEY) : undefined;
  const trustedProxyHops = config.TRUSTED_PROXY_HOPS ?? configDefaults.TRUSTED_PROXY_HOPS;

  const principalOf = async (c: Context<AppEnv>): Promise<Principal> => {
    const match = /^Bearer\s+(\S+)$/i.exec(c.req.header('authorization') ?? '');
    const token = match?.[1];
    if (!token) {
      throw new ApiError(401, 'unauthenticated', 'Send `Authorization: Bearer <api key or JWT>`.', undefined, {
        'www-authenticate': 'Bearer',
      });
    }
    if (bootstrapDigest && timingSafeEqual(digest(token), bootstrapDigest)) {
      return {
        kind: 'bootstrap_key',
        id: 'bootstrap',
        platformRole: 'platform_admin',
        scopes: scopeValues,
        confinedTo: null,
        memberships: new Map(),
      };
    }
    if (token.startsWith(apiKeyPrefix)) return apiKeyPrincipal(c.get('orm').em, c.get('apiKeyCache'), token, c.get('clock').now().getTime());
    if (key && token.split('.').length === 3) return userPrincipal(c.var.orm.em.fork(), token, key, config, c.get('clock').now().getTime());
    throw invalid();
  };

  return async (c, next) => {
    const principal = await principalOf(c).catch((error: unknown) => {
      if (!(error instanceof ApiError && error.status === 401)) throw error;
      const retryAfter = failures.take(clientAddress((c.env as Partial<HttpBindings> | undefined)?.incoming, trustedProxyHops));
      if (retryAfter === undefined) throw error;
      throw new ApiError(429, 'authentication_rate_limited', `Too many failed authentications from this address; retry in ${retryAfter} s.`, undefined, {
        'retry-after': String(retryAfter),
      });
    });
    c.set('principal', principal);
    c.set('logger', c.get('logger').child({ principal: principal.id }));
    await next();
  };
}
