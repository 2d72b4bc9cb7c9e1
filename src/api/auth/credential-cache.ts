import pg from 'pg';
import { apiKeyChangesChannel, type ApiKeyCredential } from '../../db/repositories/api-keys.js';
import type { Logger } from '../../logger.js';

const maxEntries = 10_000;
const reconnectDelayMs = 1_000;

/**
 * API key credentials by key hash, kept in this process so an authenticated request needs no
 * lookup. It is only used while a listener hears every change: triggers on `api_keys` notify a
 * key's id when it is revoked, changed or deleted (by the API, the CLI or plain SQL), and losing
 * the listener's connection empties the cache and turns it off until the connection is back.
 */
export class ApiKeyCredentialCache {
  readonly #byHash = new Map<string, ApiKeyCredential>();
  readonly #hashById = new Map<string, string>();
  #active = false;
  /** Bumped by every eviction, so a lookup that raced one cannot put back what it read before. */
  #generation = 0;

  /** Whether a listener is hearing changes (only then is anything kept). */
  get active(): boolean {
    return this.#active;
  }

  get(hash: string): ApiKeyCredential | undefined {
    return this.#byHash.get(hash);
  }

  /** Call before reading the database; hand the ticket to `set`. */
  ticket(): number {
    return this.#generation;
  }

  set(hash: string, credential: ApiKeyCredential, ticket: number): void {
    if (!this.#active || ticket !== this.#generation) return;
    if (this.#byHash.size >= maxEntries) this.#clear();
    this.#byHash.set(hash, credential);
    this.#hashById.set(credential.id, hash);
  }

  forget(id: string): void {
    this.#generation += 1;
    const hash = this.#hashById.get(id);
    if (hash === undefined) return;
    this.#hashById.delete(id);
    this.#byHash.delete(hash);
  }

  setActive(active: boolean): void {
    this.#active = active;
    this.#clear();
  }

  #clear(): void {
    this.#generation += 1;
    this.#byHash.clear();
    this.#hashById.clear();
  }
}

export interface ApiKeyChangeListener {
  close(): Promise<void>;
}

/**
 * Keeps `cache` in step with `api_keys` through LISTEN on a connection of its own, reconnecting
 * after a drop. Resolves once the first LISTEN is in place (or failed: the cache then stays off).
 */
export async function listenForApiKeyChanges(databaseUrl: string, cache: ApiKeyCredentialCache, logger: Logger): Promise<ApiKeyChangeListener> {
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
