import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { hashApiKey } from '../../src/api/auth/api-keys.js';
import { startTestStack, type TestStack } from '../support/stack.js';

/**
 * The API keeps API key credentials in memory; every change to `api_keys` — through the API, the
 * CLI or plain SQL from another process — must still reach the next request.
 */
describe('API key credentials cached in the API process', () => {
  let stack: TestStack;

  beforeAll(async () => {
    stack = await startTestStack();
  });

  afterAll(async () => {
    await stack.stop();
  });

  async function createKey(): Promise<{ id: string; key: string }> {
    const response = await stack.request('POST', '/v1/api-keys', { body: { name: 'cached', scopes: ['read'], platformRole: 'finance' } });
    expect(response.status).toBe(201);
    return (await response.json()) as { id: string; key: string };
  }

  const readWith = (key: string) => stack.request('GET', '/v1/audit-events?limit=1', { headers: { authorization: `Bearer ${key}` } });

  async function statusSettles(key: string, expected: number): Promise<number> {
    const deadline = Date.now() + 5_000;
    let status = (await readWith(key)).status;
    while (status !== expected && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 25));
      status = (await readWith(key)).status;
    }
    return status;
  }

  async function listenerReady(): Promise<void> {
    const deadline = Date.now() + 5_000;
    while (!stack.apiKeyCache.active && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 25));
    expect(stack.apiKeyCache.active).toBe(true);
  }

  it('answers from memory once a key has been used', async () => {
    await listenerReady();
    const { key, id } = await createKey();
    expect((await readWith(key)).status).toBe(200);
    expect(stack.apiKeyCache.get(hashApiKey(key))?.id).toBe(id);
  });

  it('refuses a key revoked behind its back (plain SQL, as another process would) once the notification arrives', async () => {
    await listenerReady();
    const { key, id } = await createKey();
    expect((await readWith(key)).status).toBe(200);
    await stack.sql('update api_keys set revoked_at = now() where id = $1', [id]);
    expect(await statusSettles(key, 401)).toBe(401);
    expect(stack.apiKeyCache.get(hashApiKey(key))?.revokedAt).not.toBeNull();
  });

  it('refuses a deleted key', async () => {
    await listenerReady();
    const { key, id } = await createKey();
    expect((await readWith(key)).status).toBe(200);
    await stack.sql('delete from api_keys where id = $1', [id]);
    expect(await statusSettles(key, 401)).toBe(401);
  });

  it('keeps the entry when only lastUsedAt changes', async () => {
    await listenerReady();
    const { key } = await createKey();
    expect((await readWith(key)).status).toBe(200);
    await stack.sql('update api_keys set last_used_at = now() - interval \'1 hour\' where key_hash = $1', [hashApiKey(key)]);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(stack.apiKeyCache.get(hashApiKey(key))).toBeDefined();
  });

  it('stops trusting memory when its listener connection dies, and listens again', async () => {
    await listenerReady();
    const { key, id } = await createKey();
    expect((await readWith(key)).status).toBe(200);
    expect(stack.apiKeyCache.get(hashApiKey(key))).toBeDefined();
    await stack.sql("select pg_terminate_backend(pid) from pg_stat_activity where application_name = 'ledgerflow-api-key-listener' and datname = current_database()");
    // A revocation nobody is listening for: the lost connection has emptied the cache, so it is read from the database.
    await stack.sql('update api_keys set revoked_at = now() where id = $1', [id]);
    expect(await statusSettles(key, 401)).toBe(401);
    await listenerReady();
    const fresh = await createKey();
    expect((await readWith(fresh.key)).status).toBe(200);
    expect(stack.apiKeyCache.get(hashApiKey(fresh.key))?.id).toBe(fresh.id);
  });
});
