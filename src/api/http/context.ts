import type { EntityManager } from '@mikro-orm/postgresql';
import type { Client } from '@temporalio/client';
import type Stripe from 'stripe';
import type { Clock } from '../../clock.js';
import type { Config } from '../../config.js';
import type { Orm } from '../../db/orm.js';
import type { Logger } from '../../logger.js';
import type { ApiKeyCredentialCache } from '../auth/credential-cache.js';
import type { Principal } from '../auth/policy.js';
import type { SeatVerdicts } from '../../db/repositories/seats.js';
import type { BudgetWatcher } from '../../budgets/watcher.js';
import type { UsageIngestion } from '../../usage/index.js';
import type { HostResolver } from '../../webhooks/targets.js';

/** A check `/readyz` runs; it resolves when the dependency answers and throws when it does not. */
export type ReadinessCheck = () => Promise<void>;

export type ApiConfig = Pick<
  Config,
  | 'TEMPORAL_TASK_QUEUE'
  | 'LEDGERFLOW_ADMIN_KEY'
  | 'JWT_HS256_SECRET'
  | 'JWT_JWKS_URL'
  | 'JWT_ISSUER'
  | 'JWT_AUDIENCE'
  | 'RATE_LIMIT_PER_MINUTE'
> &
  /** Optional here: without a secret the Stripe webhook endpoint is disabled. */
  Partial<Pick<Config, 'STRIPE_WEBHOOK_SECRET' | 'STRIPE_WEBHOOK_TOLERANCE_SECONDS'>> &
  /** Optional here: unset, `configDefaults` holds. */
  Partial<Pick<Config, 'JWT_MAX_LIFETIME_SECONDS' | 'AUTH_FAILURE_LIMIT' | 'AUTH_FAILURE_WINDOW_SECONDS' | 'TRUSTED_PROXY_HOPS'>> &
  /** Optional here: unset, webhook endpoints must be public `https://` URLs. */
  Partial<Pick<Config, 'WEBHOOK_ALLOW_PRIVATE_TARGETS'>> &
  /** Optional here: unset, updates wait the default `WORKFLOW_UPDATE_TIMEOUT_MS`. */
  Partial<Pick<Config, 'WORKFLOW_UPDATE_TIMEOUT_MS'>> &
  /** Optional here: unset, ERP integrations cannot be created (503 `secrets_unavailable`). */
  Partial<Pick<Config, 'LEDGERFLOW_SECRET_KEYS'>>;

export interface AppDeps {
  config: ApiConfig;
  orm: Orm;
  temporal: Client;
  /** Stripe, called for short idempotent requests (payment-method setup, webhook follow-ups). */
  stripe: Stripe;
  clock: Clock;
  logger: Logger;
  readiness: Record<string, ReadinessCheck>;
  /** Resolves webhook endpoint host names at registration (the system resolver by default). */
  resolveHost?: HostResolver;
  /** Credentials kept in this process, kept current by `listenForApiKeyChanges`; without it every request looks its key up. */
  apiKeyCache?: ApiKeyCredentialCache;
}

export interface AppEnv {
  Variables: AppDeps & {
    requestId: string;
    /** Seat verification's batched reads, one per app. */
    seatVerdicts: SeatVerdicts;
    /** Usage recording's shared reference cache and group commit, one per app. */
    usageIngestion: UsageIngestion;
    /** Checks an organization's budgets after it bought something, off the request's path; one per app. */
    budgetWatcher: BudgetWatcher;
    /** Authenticated caller (set on `/v1` routes). */
    principal: Principal;
    /**
     * This request's unit of work: a transaction for a mutation (committed only when the response
     * is a success), a plain fork for reads.
     */
    em: EntityManager;
    /**
     * Runs `task` once this request's transaction has committed (never after a rollback or an
     * idempotent replay), e.g. dispatching the webhook events it recorded. Tasks must not throw.
     */
    afterCommit: (task: () => Promise<void>) => void;
    /**
     * Top-level fields of this response that are secrets shown once (a new API key): an
     * idempotency record stores the response without them, so a replay never shows them again.
     */
    shownOnceFields?: readonly string[];
  };
}
