import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startTestStack, type TestStack } from '../support/stack.js';
import { expectProblem } from './support/problems.js';
import { generateApiKey } from '../../src/api/auth/api-keys.js';
import { bearer, call, createApiKey, rowCounts, signJwt, unique } from './support/world.js';

let stack: TestStack;
let organizationId: string;
const departmentIds: string[] = [];

beforeAll(async () => {
  stack = await startTestStack();
  organizationId = (await call<{ id: string }>(stack, 'POST', '/v1/organizations', { body: { name: 'Paged', currency: 'USD' } })).id;
  for (let index = 0; index < 5; index += 1) {
    departmentIds.push((await call<{ id: string }>(stack, 'POST', `/v1/organizations/${organizationId}/departments`, { body: { name: `Dept ${index}` } })).id);
  }
  // Rows created in the same millisecond: the page order must break the tie by id.
  const sameInstant = new Date('2026-01-01T00:00:00.000Z');
  for (let index = 0; index < 6; index += 1) {
    const id = randomUUID();
    departmentIds.push(id);
    await stack.sql('insert into departments (id, organization_id, name, created_at) values ($1, $2, $3, $4)', [id, organizationId, `Twin ${index}`, sameInstant]);
  }
});
afterAll(async () => {
  await stack.stop();
});

interface Page {
  data: { id: string }[];
  nextCursor: string | null;
}

const departmentsPath = () => `/v1/organizations/${organizationId}/departments`;

describe('cursor pagination (departments)', () => {
  it('walks every row exactly once with limit and nextCursor, including rows created in the same millisecond', async () => {
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page: Page = await call(stack, 'GET', `${departmentsPath()}?limit=3${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
      expect(page.data.length).toBeLessThanOrEqual(3);
      seen.push(...page.data.map((row) => row.id));
      cursor = page.nextCursor;
      pages += 1;
    } while (cursor !== null && pages < 50);
    expect(seen).toHaveLength(departmentIds.length);
    expect(new Set(seen)).toEqual(new Set(departmentIds));
    expect(pages).toBe(Math.ceil(departmentIds.length / 3));
  });

  it('answers the last page with nextCursor null, and defaults to 50 rows', async () => {
    const page = await call<Page>(stack, 'GET', departmentsPath());
    expect(page.data).toHaveLength(departmentIds.length);
    expect(page.nextCursor).toBeNull();
  });

  it('accepts the bounds limit=1 and limit=100', async () => {
    expect((await call<Page>(stack, 'GET', `${departmentsPath()}?limit=1`)).data).toHaveLength(1);
    expect((await call<Page>(stack, 'GET', `${departmentsPath()}?limit=100`)).data).toHaveLength(departmentIds.length);
  });

  it.each(['0', '101', '-5', '2.5', 'ten'])('refuses limit=%s with a 400 naming limit', async (limit) => {
    const problem = await expectProblem(await stack.request('GET', `${departmentsPath()}?limit=${limit}`), 400, 'validation_failed');
    expect(problem.errors?.map((error) => error.field)).toEqual(['limit']);
  });

  it.each([
    ['not base64 JSON', 'garbage!!'],
    ['JSON null', Buffer.from('null').toString('base64url')],
    ['a number', Buffer.from('42').toString('base64url')],
    ['a bad date', Buffer.from(JSON.stringify({ at: 'yesterday', id: randomUUID() })).toString('base64url')],
    ['a non-string id', Buffer.from(JSON.stringify({ at: new Date().toISOString(), id: 7 })).toString('base64url')],
    ['an id that is not a uuid', Buffer.from(JSON.stringify({ at: new Date().toISOString(), id: 'abc' })).toString('base64url')],
  ])('refuses a cursor that is %s with a 400 cursor_invalid', async (_, cursor) => {
    await expectProblem(await stack.request('GET', `${departmentsPath()}?cursor=${encodeURIComponent(cursor)}`), 400, 'cursor_invalid');
  });
});

describe('request body size', () => {
  it('answers a body over 1 MiB with a 413 problem and writes nothing', async () => {
    const before = await rowCounts(stack);
    const body = JSON.stringify({ name: 'Huge', currency: 'USD', billingEmail: `${'a'.repeat(1024 * 1024)}@example.test` });
    const response = await stack.request('POST', '/v1/organizations', { body });
    await expectProblem(response, 413, 'body_too_large');
    expect(await rowCounts(stack)).toEqual(before);
    // The same client goes on working (the refused connection was closed, not left half-read).
    expect((await stack.request('GET', `/v1/organizations/${organizationId}`)).status).toBe(200);
  });

  it('still accepts a body just under the limit (and judges it on its content)', async () => {
    const response = await stack.request('POST', '/v1/organizations', {
      body: JSON.stringify({ name: 'Padded', currency: 'USD', billingEmail: `${'a'.repeat(1000 * 1000)}@example.test` }),
    });
    const problem = await expectProblem(response, 400, 'validation_failed');
    expect(problem.errors?.map((error) => error.field)).toEqual(['billingEmail']);
  });
});

describe('rate limit', () => {
  let limited: TestStack;
  beforeAll(async () => {
    limited = await startTestStack({ rateLimitPerMinute: 3 });
  });
  afterAll(async () => {
    await limited.stop();
  });

  it('answers the 4th request in a minute with 429 and Retry-After, per caller', async () => {
    for (let index = 0; index < 3; index += 1) expect((await limited.request('GET', '/v1/applications')).status).toBe(200);
    const refused = await limited.request('GET', '/v1/applications');
    await expectProblem(refused, 429, 'rate_limited');
    const retryAfter = Number(refused.headers.get('retry-after'));
    expect(Number.isInteger(retryAfter)).toBe(true);
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);
    expect((await limited.request('GET', '/healthz')).status).toBe(200);
  });

  it('counts each caller separately', async () => {
    const other = await createApiKeyDirectly(limited);
    expect((await limited.request('GET', '/v1/applications', { headers: { authorization: other } })).status).toBe(200);
  });
});

describe('failed authentication', () => {
  let guarded: TestStack;
  let seatKey: string;
  beforeAll(async () => {
    guarded = await startTestStack({ authFailureLimit: 5 });
    seatKey = bearer((await createApiKey(guarded, { scopes: ['seats:verify'], platformRole: 'platform_admin' })).key);
  });
  afterAll(async () => {
    await guarded.stop();
  });

  const verifySeat = (authorization: string) =>
    guarded.request('POST', '/v1/seats/verify', { body: { userId: 'ann', applicationSlug: 'reports', externalOrgId: 'acme' }, headers: { authorization } });

  it('answers 429 with Retry-After after 5 failures from one address (X-Forwarded-For is not trusted), while valid credentials still work', async () => {
    // The seat key's first use is recorded by the app; from then on the fast lane answers it from memory.
    expect((await verifySeat(seatKey)).status).toBe(200);
    const bogusKey = `Bearer lf_sk_${'x'.repeat(43)}`;
    for (let index = 0; index < 5; index += 1) {
      const refused = await guarded.request('GET', '/v1/applications', { headers: { authorization: bogusKey, 'x-forwarded-for': `203.0.113.${index}` } });
      await expectProblem(refused, 401, 'invalid_credentials');
    }
    const failures: [string, Promise<Response>][] = [
      ['a bogus key', guarded.request('GET', '/v1/applications', { headers: { authorization: bogusKey, 'x-forwarded-for': '198.51.100.7' } })],
      ['no credentials', guarded.request('GET', '/v1/applications', { headers: { authorization: '' } })],
      ['a bogus key on the fast lane', verifySeat(bogusKey)],
    ];
    for (const [, answer] of failures) {
      const limited = await answer;
      const retryAfter = Number(limited.headers.get('retry-after'));
      expect(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 60).toBe(true);
      await expectProblem(limited, 429, 'authentication_rate_limited');
    }

    expect((await guarded.request('GET', '/v1/applications')).status).toBe(200);
    expect((await guarded.request('GET', '/v1/applications', { headers: { authorization: bearer(await signJwt(unique('person'), 'platform_admin')) } })).status).toBe(200);
    expect((await verifySeat(seatKey)).status).toBe(200);
    const freshKey = bearer((await createApiKey(guarded, { scopes: ['read'], platformRole: 'platform_admin' })).key);
    expect((await guarded.request('GET', '/v1/applications', { headers: { authorization: freshKey } })).status).toBe(200);
  });
});

/** A platform key written straight to the database: the bootstrap key has no requests left to create one. */
async function createApiKeyDirectly(target: TestStack): Promise<string> {
  const { key, hash, displayPrefix } = generateApiKey();
  await target.sql(
    "insert into api_keys (id, name, display_prefix, key_hash, scopes, platform_role, created_by, created_at) values ($1, 'other', $2, $3, '{read}', 'platform_admin', 'test', now())",
    [randomUUID(), displayPrefix, hash],
  );
  return bearer(key);
}
