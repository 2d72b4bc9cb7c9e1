import { z } from 'zod';

const port = z.coerce.number().int().min(0).max(65_535);
const optionalUrl = (protocols: string[]) =>
  z
    .url({ protocol: new RegExp(`^(${protocols.join('|')})$`) })
    .optional();

/**
 * Every environment variable Ledgerflow reads. docker-compose.yml uses exactly these names
 * (a test checks it), so keep the two in step.
 */
export const configSchema = z.object({
  NODE_ENV: z.enum(['development', 'test', 'production']).default('development'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  HOST: z.string().min(1).default('127.0.0.1'),
  PORT: port.default(3000),
  /** Unset: `npm start` runs an embedded PostgreSQL and sets it for the API and worker. */
  DATABASE_URL: optionalUrl(['postgres', 'postgresql']),
  DATABASE_POOL_MAX: z.coerce.number().int().min(1).max(200).default(10),
  /** Unset: `npm start` runs the Temporal CLI dev server and sets it. */
  TEMPORAL_ADDRESS: z
    .string()
    .regex(/^[\w.-]+:\d{1,5}$/, 'must be host:port')
    .optional(),
  TEMPORAL_NAMESPACE: z.string().min(1).default('default'),
  TEMPORAL_TASK_QUEUE: z.string().min(1).default('ledgerflow'),
  /** Where `npm start` keeps the embedded PostgreSQL cluster and the Temporal SQLite file. */
  LEDGERFLOW_DATA_DIR: z.string().min(1).default('.data'),
  EMBEDDED_POSTGRES_PORT: port.default(54329),
  TEMPORAL_DEV_PORT: port.default(7233),
  TEMPORAL_UI_PORT: port.default(8233),
  STRIPE_MOCK_PORT: port.default(12111),
  /** Unset in development: `npm start` runs stripe-mock and points the Stripe client at it. */
  STRIPE_API_URL: optionalUrl(['http', 'https']),
  STRIPE_SECRET_KEY: z.string().regex(/^(sk|rk)_(test|live)_\w+$/, 'must be a Stripe secret key (sk_… or rk_…)').default('sk_test_ledgerflow'),
  /** The endpoint's signing secret (`whsec_…`); unset, POST /v1/webhooks/stripe answers 503. */
  STRIPE_WEBHOOK_SECRET: z.string().min(1).optional(),
  /** How old a Stripe webhook's signed timestamp may be (replay protection; Stripe's default is 300). */
  STRIPE_WEBHOOK_TOLERANCE_SECONDS: z.coerce.number().int().min(1).max(3_600).default(300),
  /**
   * Development: outgoing webhooks may use `http://` and reach loopback, private and link-local
   * addresses (receivers on this machine). Unset, an endpoint must be `https://` on a public address,
   * at registration and at every delivery. `npm start` and the tests set it to 1.
   */
  WEBHOOK_ALLOW_PRIVATE_TARGETS: z.stringbool().default(false),
  /** The operator's bootstrap key, accepted as a `platform_admin` API key. */
  LEDGERFLOW_ADMIN_KEY: z.string().min(32, 'must be at least 32 characters').optional(),
  /**
   * Keys that encrypt ERP credentials at rest (AES-256-GCM): `<key id>:<base64 32 bytes>`, comma-
   * separated, the first encrypting and every one decrypting (rotation). `npm start` generates one
   * into .data/ when unset; without it, ERP integrations cannot be created or synced.
   */
  LEDGERFLOW_SECRET_KEYS: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,32}:[A-Za-z0-9+/]{43}=(,[A-Za-z0-9_-]{1,32}:[A-Za-z0-9+/]{43}=)*$/, 'must be <key id>:<base64 32-byte key>[,…]')
    .optional(),
  /** Development: people's JWTs signed with this HS256 secret. */
  JWT_HS256_SECRET: z.string().min(32, 'must be at least 32 characters').optional(),
  /** Production: people's JWTs verified against this identity provider's JWKS. */
  JWT_JWKS_URL: optionalUrl(['https']),
  JWT_ISSUER: z.string().min(1).optional(),
  JWT_AUDIENCE: z.string().min(1).optional(),
  /** The longest a person's JWT may live: `exp - iat`, or `exp` from now when it has no `iat`. */
  JWT_MAX_LIFETIME_SECONDS: z.coerce.number().int().min(60).max(31_536_000).default(86_400),
  /** Failed authentications per client address in a window; past them, failures answer 429. */
  AUTH_FAILURE_LIMIT: z.coerce.number().int().min(1).max(1_000_000).default(20),
  AUTH_FAILURE_WINDOW_SECONDS: z.coerce.number().int().min(1).max(86_400).default(60),
  /**
   * Reverse proxies in front of the API. 0: the client address is the connection's peer. N: it is
   * the Nth `X-Forwarded-For` entry from the right (each trusted proxy appends the address it saw).
   */
  TRUSTED_PROXY_HOPS: z.coerce.number().int().min(0).max(10).default(0),
  /** Requests per minute per caller (API key or person), per API process. */
  RATE_LIMIT_PER_MINUTE: z.coerce.number().int().min(1).max(1_000_000).default(1_200),
  /**
   * How long a request waits for a workflow's answer to an update (bill now, plan and seat
   * changes) before it answers 504 `timeout`, naming where to look the result up.
   */
  WORKFLOW_UPDATE_TIMEOUT_MS: z.coerce.number().int().min(100).max(120_000).default(10_000),
  /** How long in-flight requests and activities get to finish on SIGTERM. */
  SHUTDOWN_GRACE_MS: z.coerce.number().int().min(0).max(600_000).default(30_000),
  /**
   * A workflow bundle built beforehand (`bundleWorkflowCode`); unset, the worker bundles
   * workflows/ at start (10+ s on two cores). Tests that restart workers often set it.
   */
  WORKFLOW_BUNDLE_PATH: z.string().min(1).optional(),
});

export type Config = z.infer<typeof configSchema>;

/** Every default, for code handed a partial configuration (tests, benchmarks). */
export const configDefaults: Config = configSchema.parse({});

export class ConfigError extends Error {
  constructor(readonly issues: string[]) {
    super(`Invalid configuration:\n${issues.map((issue) => `  - ${issue}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

type RequiredKey = 'DATABASE_URL' | 'TEMPORAL_ADDRESS';
export type ConfigWith<K extends RequiredKey> = Config & { [P in K]-?: NonNullable<Config[P]> };

/**
 * Parses the environment. Empty strings count as unset, so `FOO=` in a shell or compose file
 * falls back to the default instead of failing as an invalid value.
 */
export function loadConfig<K extends RequiredKey = never>(
  env: Record<string, string | undefined> = process.env,
  required: readonly K[] = [],
): ConfigWith<K> {
  const present = Object.fromEntries(
    Object.keys(configSchema.shape).flatMap((key) => {
      const value = env[key];
      return value === undefined || value === '' ? [] : [[key, value]];
    }),
  );
  const parsed = configSchema.safeParse(present);
  const issues = parsed.success
    ? []
    : parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
  for (const key of required) {
    if (parsed.success && parsed.data[key] === undefined) {
      issues.push(`${key}: required by this process (npm start sets it; set it yourself to use an external server)`);
    }
  }
  if (!parsed.success || issues.length > 0) throw new ConfigError(issues);
  return parsed.data as ConfigWith<K>;
}

/** Entrypoints call this: a bad value stops the process with a message naming the variable. */
export function loadConfigOrExit<K extends RequiredKey = never>(required: readonly K[] = []): ConfigWith<K> {
  try {
    return loadConfig(process.env, required);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(78);
    }
    throw error;
  }
}
