import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { billingStateQuery } from '../../workflows/messages/billing.js';
import { startTestStack, type TestStack } from '../support/stack.js';

let stack: TestStack;
beforeAll(async () => {
  stack = await startTestStack();
});
afterAll(async () => {
  await stack.stop();
});

async function waitUntil<T>(probe: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe('POST /v1/organizations → PostgreSQL and billing:<id> in Temporal', () => {
  it('persists the organization and starts its billing workflow, which records that it started', async () => {
    const response = await stack.request('POST', '/v1/organizations', {
      body: { name: 'Acme Corp', currency: 'USD', billingEmail: 'ap@acme.test', taxRatePercent: 8.25, netTermsDays: 30 },
    });
    expect(response.status).toBe(201);
    const created = (await response.json()) as Record<string, unknown>;
    expect(created).toMatchObject({
      name: 'Acme Corp',
      currency: 'USD',
      parentId: null,
      billingEmail: 'ap@acme.test',
      taxRatePercent: 8.25,
      paymentTerms: 'charge_automatically',
      netTermsDays: 30,
      billingWorkflowId: `billing:${String(created.id)}`,
    });
    expect(response.headers.get('x-request-id')).toBeTruthy();

    const [row] = await stack.sql<{ name: string; tax_rate_percent: string }>(
      'select name, tax_rate_percent from organizations where id = $1',
      [created.id],
    );
    expect(row).toEqual({ name: 'Acme Corp', tax_rate_percent: '8.2500' });

    const handle = stack.temporal.workflow.getHandle(`billing:${String(created.id)}`);
    const description = await handle.describe();
    expect(description.type).toBe('billingCycle');
    expect(description.taskQueue).toBe(stack.taskQueue);
    expect(description.status.name).toBe('RUNNING');
    expect(await handle.query(billingStateQuery)).toMatchObject({ organizationId: created.id });

    const startedAt = await waitUntil(async () => {
      const [state] = await stack.sql<{ billing_started_at: Date | null }>(
        'select billing_started_at from organizations where id = $1',
        [created.id],
      );
      return state?.billing_started_at ?? undefined;
    });
    expect(startedAt).toBeInstanceOf(Date);

    const fetched = await stack.request('GET', `/v1/organizations/${String(created.id)}`);
    expect(fetched.status).toBe(200);
    expect(await fetched.json()).toMatchObject({ id: created.id, billingStartedAt: startedAt.toISOString() });
  });

  it('puts a child under its parent without a billing workflow of its own', async () => {
    const parent = (await (await stack.request('POST', '/v1/organizations', { body: { name: 'Parent', currency: 'EUR' } })).json()) as {
      id: string;
    };
    const response = await stack.request('POST', '/v1/organizations', {
      body: { name: 'Child', currency: 'EUR', parentId: parent.id },
    });
    expect(response.status).toBe(201);
    const child = (await response.json()) as { id: string; parentId: string; billingWorkflowId: string | null };
    expect(child.parentId).toBe(parent.id);
    expect(child.billingWorkflowId).toBeNull();
    await expect(stack.temporal.workflow.getHandle(`billing:${child.id}`).describe()).rejects.toThrow(/not found/i);
  });

  it.each([
    ['a missing name', { currency: 'USD' }, 'name'],
    ['a lowercase currency', { name: 'X', currency: 'usd' }, 'currency'],
    ['an unknown field', { name: 'X', currency: 'USD', color: 'red' }, 'color'],
    ['a tax rate over 100', { name: 'X', currency: 'USD', taxRatePercent: 101 }, 'taxRatePercent'],
    ['an anchor day of 32', { name: 'X', currency: 'USD', billingAnchorDay: 32 }, 'billingAnchorDay'],
  ])('refuses %s with a 400 problem naming the field, and writes nothing', async (_, body, field) => {
    const before = await stack.sql<{ count: string }>('select count(*) from organizations');
    const response = await stack.request('POST', '/v1/organizations', { body });
    expect(response.status).toBe(400);
    expect(response.headers.get('content-type')).toContain('application/problem+json');
    const problem = (await response.json()) as { code: string; requestId: string; errors: { field: string }[] };
    expect(problem.code).toBe('validation_failed');
    expect(problem.requestId).toBe(response.headers.get('x-request-id'));
    expect(problem.errors.map((error) => error.field)).toContain(field);
    expect(await stack.sql('select count(*) from organizations')).toEqual(before);
  });

  it('refuses malformed JSON with a 400 problem', async () => {
    const response = await stack.request('POST', '/v1/organizations', { body: '{"name": ' });
    expect(response.status).toBe(400);
    expect(((await response.json()) as { code: string }).code).toBe('malformed_request');
  });

  it('answers 404 for a parent that does not exist and creates nothing', async () => {
    const before = await stack.sql<{ count: string }>('select count(*) from organizations');
    const response = await stack.request('POST', '/v1/organizations', {
      body: { name: 'Orphan', currency: 'USD', parentId: '00000000-0000-4000-8000-000000000000' },
    });
    expect(response.status).toBe(404);
    expect(((await response.json()) as { code: string }).code).toBe('organization_not_found');
    expect(await stack.sql('select count(*) from organizations')).toEqual(before);
  });

  it('answers 404 for an unknown organization and 400 for an id that is not a uuid', async () => {
    const missing = await stack.request('GET', '/v1/organizations/00000000-0000-4000-8000-000000000000');
    expect(missing.status).toBe(404);
    expect(((await missing.json()) as { code: string }).code).toBe('organization_not_found');
    expect((await stack.request('GET', '/v1/organizations/not-a-uuid')).status).toBe(400);
  });

  it('refuses requests without valid credentials', async () => {
    const anonymous = await stack.request('GET', '/v1/organizations/00000000-0000-4000-8000-000000000000', {
      headers: { authorization: '' },
    });
    expect(anonymous.status).toBe(401);
    expect(((await anonymous.json()) as { code: string }).code).toBe('unauthenticated');
    const wrongKey = await stack.request('POST', '/v1/organizations', {
      body: { name: 'X', currency: 'USD' },
      headers: { authorization: 'Bearer lf_wrong_key_wrong_key_wrong_key_wrong' },
    });
    expect(wrongKey.status).toBe(401);
  });
});
