import { createHash } from 'node:crypto';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startTestStack, testAdminKey, type TestStack } from '../support/stack.js';
import { expectProblem } from './support/problems.js';
import { bearer, call, createApiKey, unique } from './support/world.js';

interface ApiKeyView {
  id: string;
  name: string;
  displayPrefix: string;
  scopes: string[];
  organizationId: string | null;
  platformRole: string | null;
  expiresAt: string | null;
  revokedAt: string | null;
  lastUsedAt: string | null;
  createdAt: string;
}

const logLines: string[] = [];
/** Every plaintext key this suite has seen; none may be stored or logged. */
const plaintexts: string[] = [testAdminKey];

let stack: TestStack;
let organizationId: string;
let otherOrganizationId: string;

beforeAll(async () => {
  const capture = new Writable({
    write(chunk: Buffer, _encoding, done) {
      logLines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      done();
    },
  });
  stack = await startTestStack({ logDestination: capture, logLevel: 'trace' });
  organizationId = (await call<{ id: string }>(stack, 'POST', '/v1/organizations', { body: { name: 'Keyholder', currency: 'USD' } })).id;
  otherOrganizationId = (await call<{ id: string }>(stack, 'POST', '/v1/organizations', { body: { name: 'Elsewhere', currency: 'USD' } })).id;
});
afterAll(async () => {
  await stack.stop();
});

async function createKey(body: Record<string, unknown>, authorization?: string): Promise<ApiKeyView & { key: string }> {
  const created = await call<ApiKeyView & { key: string }>(stack, 'POST', '/v1/api-keys', {
    body: { name: unique('key'), ...body },
    ...(authorization ? { authorization } : {}),
  });
  plaintexts.push(created.key);
  return created;
}

async function listKeys(): Promise<{ text: string; data: ApiKeyView[] }> {
  const response = await stack.request('GET', `/v1/api-keys?organizationId=${organizationId}&limit=100`);
  expect(response.status).toBe(200);
  const text = await response.text();
  return { text, data: (JSON.parse(text) as { data: ApiKeyView[] }).data };
}

describe('API keys', () => {
  it('shows a new key once: lf_sk_ followed by at least 256 random bits, stored only as its SHA-256', async () => {
    const created = await createKey({ scopes: ['read', 'write'], organizationId });
    expect(created.key).toMatch(/^lf_sk_[A-Za-z0-9_-]+$/);
    const random = Buffer.from(created.key.slice('lf_sk_'.length), 'base64url');
    expect(random.length * 8).toBeGreaterThanOrEqual(256);
    expect(created.displayPrefix).toBe(created.key.slice(0, created.displayPrefix.length));
    expect(created.displayPrefix.length).toBeLessThanOrEqual(16);
    expect(created).toMatchObject({ scopes: ['read', 'write'], organizationId, platformRole: null, revokedAt: null, lastUsedAt: null });

    const [row] = await stack.sql<{ key_hash: string }>('select key_hash from api_keys where id = $1', [created.id]);
    expect(row?.key_hash).toBe(createHash('sha256').update(created.key).digest('hex'));

    const another = await createKey({ scopes: ['read'], organizationId });
    expect(another.key).not.toBe(created.key);
    expect(another.key.slice(0, 20)).not.toBe(created.key.slice(0, 20));
  });

  it('lists keys without the key or its hash, and sets lastUsedAt once the key is used', async () => {
    const created = await createKey({ scopes: ['read'], organizationId });
    const [{ key_hash: hash }] = (await stack.sql<{ key_hash: string }>('select key_hash from api_keys where id = $1', [created.id])) as [
      { key_hash: string },
    ];
    const before = await listKeys();
    expect(before.data.find((key) => key.id === created.id)?.lastUsedAt).toBeNull();
    for (const item of before.data) expect(Object.keys(item)).not.toEqual(expect.arrayContaining(['key']));
    expect(before.text).not.toContain(created.key);
    expect(before.text).not.toContain(hash);

    const usedAt = Date.now();
    const used = await stack.request('GET', `/v1/organizations/${organizationId}`, { headers: { authorization: bearer(created.key) } });
    expect(used.status).toBe(200);

    const after = await listKeys();
    const listed = after.data.find((key) => key.id === created.id);
    expect(listed?.lastUsedAt).not.toBeNull();
    expect(Math.abs(Date.parse(listed!.lastUsedAt!) - usedAt)).toBeLessThan(10_000);
    expect(after.text).not.toContain(created.key);
    expect(after.text).not.toContain(hash);
  });

  it('refuses a revoked key on the next request (401)', async () => {
    const created = await createKey({ scopes: ['read'], organizationId });
    const authorization = bearer(created.key);
    expect((await stack.request('GET', `/v1/organizations/${organizationId}`, { headers: { authorization } })).status).toBe(200);
    const revoked = await call<ApiKeyView>(stack, 'DELETE', `/v1/api-keys/${created.id}`);
    expect(revoked.revokedAt).not.toBeNull();
    const refused = await stack.request('GET', `/v1/organizations/${organizationId}`, { headers: { authorization } });
    await expectProblem(refused, 401, 'invalid_credentials');
    expect(refused.headers.get('www-authenticate')).toContain('invalid_token');
  });

  it('refuses an expired key (401), and refuses to create one that expires in the past (400)', async () => {
    // Time passing, not a row changing: the API holds the credential in memory and must still refuse it once it expires.
    const expiresAt = Date.now() + 3_000;
    const created = await createKey({ scopes: ['read'], organizationId, expiresAt: new Date(expiresAt).toISOString() });
    const authorization = bearer(created.key);
    expect((await stack.request('GET', `/v1/organizations/${organizationId}`, { headers: { authorization } })).status).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, expiresAt - Date.now()) + 50));
    await expectProblem(await stack.request('GET', `/v1/organizations/${organizationId}`, { headers: { authorization } }), 401, 'invalid_credentials');

    const past = await stack.request('POST', '/v1/api-keys', {
      body: { name: 'late', scopes: ['read'], organizationId, expiresAt: new Date(Date.now() - 60_000).toISOString() },
    });
    const problem = await expectProblem(past, 400, 'validation_failed');
    expect(problem.errors?.map((error) => error.field)).toEqual(['expiresAt']);
  });

  it('enforces scopes: read reads but may not write; usage:write may do neither; write does both', async () => {
    const read = bearer((await createKey({ scopes: ['read'], organizationId })).key);
    const usage = bearer((await createKey({ scopes: ['usage:write'], organizationId })).key);
    const write = bearer((await createKey({ scopes: ['write'], organizationId })).key);
    const get = (authorization: string) => stack.request('GET', `/v1/organizations/${organizationId}`, { headers: { authorization } });
    const patch = (authorization: string) =>
      stack.request('PATCH', `/v1/organizations/${organizationId}`, { body: { netTermsDays: 10 }, headers: { authorization } });
    expect((await get(read)).status).toBe(200);
    await expectProblem(await patch(read), 403, 'forbidden');
    await expectProblem(await get(usage), 403, 'forbidden');
    await expectProblem(await patch(usage), 403, 'forbidden');
    expect((await get(write)).status).toBe(200);
    expect((await patch(write)).status).toBe(200);
  });

  it('confines a key to its organization: another organization is a 404', async () => {
    const key = bearer((await createKey({ scopes: ['write'], organizationId })).key);
    await expectProblem(
      await stack.request('GET', `/v1/organizations/${otherOrganizationId}`, { headers: { authorization: key } }),
      404,
      'organization_not_found',
    );
  });

  it('lets a confined key issue keys for its organization but never a platform key', async () => {
    const owner = bearer((await createKey({ scopes: ['write'], organizationId })).key);
    const issued = await createKey({ scopes: ['read'], organizationId }, owner);
    expect(issued.organizationId).toBe(organizationId);
    const platform = await stack.request('POST', '/v1/api-keys', { body: { name: 'escalate', scopes: ['write'] }, headers: { authorization: owner } });
    await expectProblem(platform, 403, 'forbidden');
    expect(await stack.sql("select id from api_keys where name = 'escalate'")).toEqual([]);
  });

  it('never lets a key issue a key with scopes it does not hold', async () => {
    const writer = bearer((await createKey({ scopes: ['write'], organizationId })).key);
    const stronger = await stack.request('POST', '/v1/api-keys', {
      body: { name: 'stronger', scopes: ['write', 'usage:write'], organizationId },
      headers: { authorization: writer },
    });
    await expectProblem(stronger, 403, 'scope_not_held');
    expect(await stack.sql("select id from api_keys where name = 'stronger'")).toEqual([]);
    const weaker = await createKey({ scopes: ['read'], organizationId }, writer);
    expect(weaker.scopes).toEqual(['read']);
  });

  it('does not show the key again in an idempotent replay of its creation (so it is not kept for one)', async () => {
    const idempotencyKey = unique('create-key');
    const body = { name: unique('retried'), scopes: ['read'], organizationId };
    const first = await stack.request('POST', '/v1/api-keys', { body, headers: { 'idempotency-key': idempotencyKey } });
    expect(first.status).toBe(201);
    const created = (await first.json()) as ApiKeyView & { key: string };
    plaintexts.push(created.key);
    expect(created.key).toMatch(/^lf_sk_/);

    const replay = await stack.request('POST', '/v1/api-keys', { body, headers: { 'idempotency-key': idempotencyKey } });
    expect(replay.status).toBe(201);
    expect(replay.headers.get('idempotent-replayed')).toBe('true');
    const replayed = (await replay.json()) as Record<string, unknown>;
    const { key: _shownOnce, ...withoutKey } = created;
    expect(replayed).toEqual(withoutKey);
    expect(await stack.sql('select count(*)::int as count from api_keys where name = $1', [body.name])).toEqual([{ count: 1 }]);
  });

  it('keeps every plaintext key out of every table and column of the database', async () => {
    const platformKey = await createApiKey(stack, { scopes: ['write'], platformRole: 'platform_admin' });
    plaintexts.push(platformKey.key);
    expect((await stack.request('GET', '/v1/api-keys', { headers: { authorization: bearer(platformKey.key) } })).status).toBe(200);

    const tables = await stack.sql<{ table_name: string }>(
      "select table_name from information_schema.tables where table_schema = 'public' and table_type = 'BASE TABLE'",
    );
    expect(tables.map((table) => table.table_name)).toEqual(expect.arrayContaining(['api_keys', 'audit_events', 'idempotency_records']));
    let rowsSeen = 0;
    for (const { table_name: table } of tables) {
      const rows = await stack.sql<{ row: string }>(`select to_jsonb(t)::text as row from "${table}" t`);
      rowsSeen += rows.length;
      for (const { row } of rows) {
        for (const plaintext of plaintexts) {
          expect({ table, leaked: row.includes(plaintext) || row.includes(plaintext.slice(-24)) }).toEqual({ table, leaked: false });
        }
      }
    }
    expect(rowsSeen).toBeGreaterThan(20);
    expect(plaintexts.length).toBeGreaterThanOrEqual(10);
  });

  it('keeps every plaintext key out of the logs', () => {
    expect(logLines.length).toBeGreaterThan(20);
    expect(logLines.some((line) => line.includes('request completed'))).toBe(true);
    for (const plaintext of plaintexts) {
      const leaking = logLines.filter((line) => line.includes(plaintext) || line.includes(plaintext.slice(-24)));
      expect(leaking).toEqual([]);
    }
  });
});
