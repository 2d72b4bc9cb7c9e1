import type { ApiKeyCredential } from '../../db/repositories/api-keys.js';

const maxEntries = 10_000;

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
