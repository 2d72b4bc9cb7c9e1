import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import pg from 'pg';
import { startTestStack, type TestStack } from '../support/stack.js';
import { expectProblem } from './support/problems.js';
import { bearer, call, createApiKey, rowCounts, unique } from './support/world.js';

let stack: TestStack;
let organizationId: string;

beforeAll(async () => {
  stack = await startTestStack();
  organizationId = (await call<{ id: string }>(stack, 'POST', '/v1/organizations', { body: { name: 'Idempotent Inc', currency: 'USD' } })).id;
});
afterAll(async () => {
  await stack.stop();
});

function post(path: string, body: unknown, key: string, authorization?: string) {
  return stack.request('POST', path, { body, headers: { 'idempotency-key': key, ...(authorization ? { authorization } : {}) } });
}

async function within<T>(ms: number, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

const endpointBody = (url: string) => ({ url, events: ['invoice.finalized'], organizationId });

async function endpointsWithUrl(url: string): Promise<number> {
  const [row] = await stack.sql<{ count: string }>('select count(*) from webhook_endpoints where url = $1', [url]);
  return Number(row?.count);
}

describe('Idempotency-Key', () => {
  it('20 concurrent identical POSTs with one key create exactly one object; each answer is that 201 or 409 in flight', async () => {
    const key = unique('concurrent');
    const url = `https://erp.example.test/${key}`;
    const auditBefore = (await rowCounts(stack)).audit_events!;
    // A lock taken outside the transaction needs a second pooled connection per request: the
    // pool runs dry and the requests hang, so this must finish well within the test's time.
    const responses = await within(
      20_000,
      Promise.all(Array.from({ length: 20 }, () => post('/v1/webhook-endpoints', endpointBody(url), key))),
    );
    const answers = await Promise.all(responses.map(async (response) => ({ status: response.status, body: (await response.json()) as Record<string, unknown> })));

    expect(await endpointsWithUrl(url)).toBe(1);
    expect((await rowCounts(stack)).audit_events).toBe(auditBefore + 1);
    const created = answers.filter((answer) => answer.status === 201);
    const inFlight = answers.filter((answer) => answer.status === 409);
    expect(created.length + inFlight.length).toBe(20);
    expect(created.length).toBeGreaterThanOrEqual(1);
    for (const answer of inFlight) expect(answer.body.code).toBe('idempotency_key_in_flight');
    const [row] = await stack.sql<{ id: string }>('select id from webhook_endpoints where url = $1', [url]);
    for (const answer of created) expect(answer.body).toEqual(created[0]!.body);
    expect(created[0]!.body.id).toBe(row?.id);
  });

  it('answers 409 idempotency_key_in_flight, without waiting, while the first request with the key is still running', async () => {
    const key = unique('in-flight');
    const body = { netTermsDays: 15 };
    // Hold the organization's row so the first PATCH blocks inside its transaction.
    const blocker = new pg.Client({ connectionString: stack.databaseUrl });
    await blocker.connect();
    try {
      await blocker.query('begin');
      await blocker.query('select id from organizations where id = $1 for update', [organizationId]);
      const first = stack.request('PATCH', `/v1/organizations/${organizationId}`, { body, headers: { 'idempotency-key': key } });
      await new Promise((resolve) => setTimeout(resolve, 300));
      const second = await Promise.race([
        stack.request('PATCH', `/v1/organizations/${organizationId}`, { body, headers: { 'idempotency-key': key } }),
        new Promise<'still waiting'>((resolve) => setTimeout(() => resolve('still waiting'), 3_000)),
      ]);
      expect(second).not.toBe('still waiting');
      await expectProblem(second as Response, 409, 'idempotency_key_in_flight');
      await blocker.query('commit');
      const completed = await first;
      expect(completed.status).toBe(200);
      expect(((await completed.json()) as { netTermsDays: number }).netTermsDays).toBe(15);
    } finally {
      await blocker.end();
    }
  });

  it('replays the stored first response after completion (same body, idempotent-replayed: true) and writes nothing more', async () => {
    const key = unique('replay');
    const url = `https://erp.example.test/${key}`;
    const first = await post('/v1/webhook-endpoints', endpointBody(url), key);
    expect(first.status).toBe(201);
    expect(first.headers.get('idempotent-replayed')).toBeNull();
    const firstBody = await first.text();
    const before = await rowCounts(stack);

    const replay = await post('/v1/webhook-endpoints', endpointBody(url), key);
    expect(replay.status).toBe(201);
    expect(replay.headers.get('idempotent-replayed')).toBe('true');
    expect(replay.headers.get('content-type')).toContain('application/json');
    expect(replay.headers.get('x-request-id')).toBeTruthy();
    expect(await replay.text()).toBe(firstBody);
    expect(await rowCounts(stack)).toEqual(before);
    expect(await endpointsWithUrl(url)).toBe(1);
  });

  it('replays the same JSON sent with other whitespace and key order, and writes nothing more', async () => {
    const key = unique('reformatted');
    const url = `https://erp.example.test/${key}`;
    const first = await post('/v1/webhook-endpoints', JSON.stringify(endpointBody(url)), key);
    expect(first.status).toBe(201);
    const firstBody = await first.text();
    const before = await rowCounts(stack);

    const reordered = { organizationId, events: ['invoice.finalized'], url };
    for (const body of [JSON.stringify(reordered, null, 2), `\n  ${JSON.stringify(endpointBody(url)).replaceAll(',', ' ,\t')}  \r\n`]) {
      const replay = await post('/v1/webhook-endpoints', body, key);
      expect({ status: replay.status, replayed: replay.headers.get('idempotent-replayed') }).toEqual({ status: 201, replayed: 'true' });
      expect(await replay.text()).toBe(firstBody);
    }
    expect(await rowCounts(stack)).toEqual(before);
    expect(await endpointsWithUrl(url)).toBe(1);
    // Canonical form keeps what differs: the same keys with another value are another request.
    await expectProblem(await post('/v1/webhook-endpoints', JSON.stringify({ ...reordered, events: ['invoice.paid'] }), key), 422, 'idempotency_key_reused');
  });

  it('replays a PATCH even after the object changed since', async () => {
    const key = unique('patch');
    const first = await stack.request('PATCH', `/v1/organizations/${organizationId}`, { body: { billingEmail: 'first@example.test' }, headers: { 'idempotency-key': key } });
    const firstBody = await first.text();
    await call(stack, 'PATCH', `/v1/organizations/${organizationId}`, { body: { billingEmail: 'second@example.test' } });
    const replay = await stack.request('PATCH', `/v1/organizations/${organizationId}`, { body: { billingEmail: 'first@example.test' }, headers: { 'idempotency-key': key } });
    expect(replay.headers.get('idempotent-replayed')).toBe('true');
    expect(await replay.text()).toBe(firstBody);
    const [row] = await stack.sql<{ billing_email: string }>('select billing_email from organizations where id = $1', [organizationId]);
    expect(row?.billing_email).toBe('second@example.test');
  });

  it('answers 422 idempotency_key_reused for the same key with a different body, and writes nothing', async () => {
    const key = unique('reused');
    expect((await post('/v1/webhook-endpoints', endpointBody(`https://erp.example.test/${key}/a`), key)).status).toBe(201);
    const before = await rowCounts(stack);
    await expectProblem(await post('/v1/webhook-endpoints', endpointBody(`https://erp.example.test/${key}/b`), key), 422, 'idempotency_key_reused');
    expect(await rowCounts(stack)).toEqual(before);
    expect(await endpointsWithUrl(`https://erp.example.test/${key}/b`)).toBe(0);
  });

  it('stores nothing for a failed request (400, 409), so the same key can then succeed; no audit row for the failures', async () => {
    const key = unique('after-failure');
    const path = `/v1/organizations/${organizationId}/departments`;
    await call(stack, 'POST', path, { body: { name: 'Taken' } });
    const before = await rowCounts(stack);

    await expectProblem(await post(path, { name: '' }, key), 400, 'validation_failed');
    await expectProblem(await post(path, { name: 'Taken' }, key), 409, 'department_name_taken');
    expect(await rowCounts(stack)).toEqual(before);
    expect(await stack.sql('select key from idempotency_records where key = $1', [key])).toEqual([]);

    const success = await post(path, { name: 'Fresh' }, key);
    expect(success.status).toBe(201);
    expect(success.headers.get('idempotent-replayed')).toBeNull();
    const after = await rowCounts(stack);
    expect(after.departments).toBe(before.departments! + 1);
    expect(after.audit_events).toBe(before.audit_events! + 1);
    expect(after.idempotency_records).toBe(before.idempotency_records! + 1);
  });

  it('keeps keys per caller: two callers may use the same key independently', async () => {
    const key = unique('shared');
    const otherCaller = await createApiKey(stack, { scopes: ['write'], platformRole: 'platform_admin' });
    const url = `https://erp.example.test/${key}`;
    const mine = await post('/v1/webhook-endpoints', endpointBody(url), key);
    const theirs = await post('/v1/webhook-endpoints', endpointBody(url), key, bearer(otherCaller.key));
    expect([mine.status, theirs.status]).toEqual([201, 201]);
    expect(theirs.headers.get('idempotent-replayed')).toBeNull();
    const [a, b] = [(await mine.json()) as { id: string }, (await theirs.json()) as { id: string }];
    expect(a.id).not.toBe(b.id);
    expect(await endpointsWithUrl(url)).toBe(2);
    const owners = await stack.sql<{ principal_id: string }>('select principal_id from idempotency_records where key = $1', [key]);
    expect(owners.map((row) => row.principal_id).sort()).toEqual(['bootstrap', otherCaller.id].sort());
  });

  it('keeps a record at least 24 hours', async () => {
    const key = unique('ttl');
    expect((await post('/v1/webhook-endpoints', endpointBody(`https://erp.example.test/${key}`), key)).status).toBe(201);
    const [row] = await stack.sql<{ hours: number }>(
      'select extract(epoch from expires_at - created_at) / 3600 as hours from idempotency_records where key = $1',
      [key],
    );
    expect(Number(row?.hours)).toBeGreaterThanOrEqual(24);
  });

  it('runs the request anew once the stored record has expired', async () => {
    const key = unique('expired');
    const url = `https://erp.example.test/${key}`;
    const first = (await (await post('/v1/webhook-endpoints', endpointBody(url), key)).json()) as { id: string };
    await stack.sql("update idempotency_records set expires_at = now() - interval '1 second' where key = $1", [key]);
    const again = await post('/v1/webhook-endpoints', endpointBody(url), key);
    expect(again.status).toBe(201);
    expect(again.headers.get('idempotent-replayed')).toBeNull();
    expect(((await again.json()) as { id: string }).id).not.toBe(first.id);
    expect(await endpointsWithUrl(url)).toBe(2);
    const [record] = await stack.sql<{ expires_at: Date }>('select expires_at from idempotency_records where key = $1', [key]);
    expect(record!.expires_at.getTime()).toBeGreaterThan(Date.now());
  });

  it('refuses a key that is not 1 to 255 visible ASCII characters', async () => {
    await expectProblem(await post('/v1/webhook-endpoints', endpointBody('https://erp.example.test/k'), 'k'.repeat(256)), 400, 'idempotency_key_invalid');
  });
});
