import type { Orm } from '../../db/orm.js';
import { holdErpRequests, lockIntegrationSecrets, reserveErpRequestSlot, storeIntegrationSecrets } from '../../db/repositories/erp-sync.js';
import type { ErpProvider } from '../../domain/index.js';
import type { SecretBox } from '../../secrets.js';
import { ErpError, type ErpConnector, type ErpRateLimit, type ErpSettings } from './connector.js';
import { createErpHttp, type ErpRatePacer } from './http.js';
import { erpConnectors } from './index.js';
import { usableToken, type AccessGrant, type AccessTokens } from './tokens.js';

/** The associated data sealing each secret to its row and field. */
export const sealContext = {
  credentials: (integrationId: string) => `erp_integrations:${integrationId}:credentials`,
  accessToken: (integrationId: string) => `erp_integrations:${integrationId}:access_token`,
};

/** An integration as the worker opens it: its row, credentials still sealed. */
interface IntegrationHandle {
  id: string;
  provider: ErpProvider;
  settings: ErpSettings;
  credentials: string;
}

/** The longest a request waits for its rate-limit slot inside an activity; longer waits become a durable retry. */
const maxSlotWaitMs = 20_000;

/**
 * The vendor's limit, or `settings.requestsPerSecond` when the operator's contract with the vendor
 * says otherwise. Requests are paced at 95 % of it: a sliding-window limiter counts the request
 * that arrives a few milliseconds early, so pacing at exactly the limit would bounce off it.
 */
function effectiveRateLimit(provider: ErpProvider, settings: ErpSettings): ErpRateLimit {
  const published = erpConnectors[provider].rateLimit;
  const configured = typeof settings.requestsPerSecond === 'number' && settings.requestsPerSecond > 0 ? settings.requestsPerSecond : published.requestsPerSecond;
  return { ...published, requestsPerSecond: configured * 0.95 };
}

/** The integration's rate limit, shared through its row by every activity of every worker. */
function databasePacer(orm: Orm, integration: IntegrationHandle): ErpRatePacer {
  const limit = effectiveRateLimit(integration.provider, integration.settings);
  const intervalMs = 1_000 / limit.requestsPerSecond;
  return {
    async acquire() {
      const slot = await reserveErpRequestSlot(orm.em.fork(), integration.id, intervalMs, limit.burst, maxSlotWaitMs);
      if (!slot.reserved) {
        throw new ErpError('rate_limited', `the integration's request budget is spent for the next ${Math.ceil(slot.waitMs / 1_000)} s`, { retryAfterMs: slot.waitMs });
      }
      if (slot.waitMs > 0) await new Promise((resolve) => setTimeout(resolve, slot.waitMs));
    },
    async backOff(ms) {
      await holdErpRequests(orm.em.fork(), integration.id, ms);
    },
  };
}

interface CachedToken {
  token: string;
  expiresAt: number;
}

/** Access tokens by integration id, kept by this process in front of the sealed copy in the database. */
export type AccessTokenCache = Map<string, CachedToken>;

/**
 * Tokens stored sealed on the integration's row, so every worker shares one token and one refresh
 * token chain: obtaining a token locks the row, rereads what another worker may have just stored,
 * and only then asks the vendor.
 */
function storedAccessTokens<C>(orm: Orm, secrets: SecretBox, integrationId: string, cache: AccessTokenCache): AccessTokens<C> {
  return {
    async get(obtain: (credentials: C) => Promise<AccessGrant<C>>, options: { rejected?: string } = {}) {
      const cached = cache.get(integrationId);
      if (usableToken(cached, options.rejected)) return cached.token;
      return orm.em.fork().transactional(async (tx) => {
        const sealed = await lockIntegrationSecrets(tx, integrationId);
        if (!sealed) throw new ErpError('auth', 'the integration no longer exists');
        const stored = sealed.accessToken ? (JSON.parse(secrets.decrypt(sealed.accessToken, sealContext.accessToken(integrationId))) as CachedToken) : undefined;
        if (usableToken(stored, options.rejected)) {
          cache.set(integrationId, stored);
          return stored.token;
        }
        const credentials = JSON.parse(secrets.decrypt(sealed.credentials, sealContext.credentials(integrationId))) as C;
        const grant = await obtain(credentials);
        const token = { token: grant.accessToken, expiresAt: Date.now() + grant.expiresInSeconds * 1_000 };
        await storeIntegrationSecrets(tx, integrationId, {
          credentials: grant.credentials ? secrets.encrypt(JSON.stringify(grant.credentials), sealContext.credentials(integrationId)) : sealed.credentials,
          accessToken: secrets.encrypt(JSON.stringify(token), sealContext.accessToken(integrationId)),
        });
        cache.set(integrationId, token);
        return token.token;
      });
    },
  };
}

interface ConnectorRuntime {
  orm: Orm;
  secrets: SecretBox;
  tokenCache: AccessTokenCache;
}

/** Opens the integration's connector: credentials decrypted here, in the activity, and nowhere else. */
export function openConnector(runtime: ConnectorRuntime, integration: IntegrationHandle): ErpConnector {
  const module = erpConnectors[integration.provider];
  const credentials = module.credentialsSchema.parse(JSON.parse(runtime.secrets.decrypt(integration.credentials, sealContext.credentials(integration.id))));
  const timeoutMs = typeof integration.settings.timeoutMs === 'number' ? integration.settings.timeoutMs : 30_000;
  return module.create({
    credentials,
    settings: integration.settings,
    http: createErpHttp({ pacer: databasePacer(runtime.orm, integration), timeoutMs }),
    tokens: storedAccessTokens(runtime.orm, runtime.secrets, integration.id, runtime.tokenCache),
  });
}
