import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { workflowIds } from '../../src/temporal/workflow-ids.js';
import { pastDueSignal, paymentRecoveredSignal } from '../../workflows/messages/subscription.js';
import { startTestStack, type TestStack } from '../support/stack.js';
import { startLaneServer } from './support/fast-lane.js';

let stack: TestStack;
beforeAll(async () => {
  stack = await startTestStack();
}, 120_000);
afterAll(async () => {
  await stack?.stop();
});

const msPerDay = 86_400_000;

async function json<T = Record<string, unknown>>(response: Response, status: number): Promise<T> {
  const text = await response.text();
  expect({ status: response.status, text }).toEqual({ status, text: expect.any(String) });
  return JSON.parse(text) as T;
}

async function post<T = Record<string, unknown>>(path: string, body: unknown, status: number, headers?: Record<string, string>): Promise<T> {
  return json<T>(await stack.request('POST', path, { body, ...(headers ? { headers } : {}) }), status);
}

interface Tenant {
  organizationId: string;
  externalOrgId: string;
  applicationSlug: string;
  basic: string;
  pro: string;
}

/** An application with two monthly plans, and an organization known to it by an external id. */
async function tenant(options: { trialDays?: number } = {}): Promise<Tenant> {
  const suffix = randomUUID().slice(0, 8);
  const applicationSlug = `app-${suffix}`;
  await post('/v1/applications', { slug: applicationSlug, name: 'Reports' }, 201);
  const plan = async (code: string, basePrice: number, seatPrice: number) => {
    await post('/v1/plans', { code, name: code, applicationSlug, currency: 'USD', interval: 'month', basePrice, seatPrice, trialDays: options.trialDays ?? 0 }, 201);
    return code;
  };
  const basic = await plan(`basic-${suffix}`, 1_000, 500);
  const pro = await plan(`pro-${suffix}`, 3_000, 1_000);
  // Invoices sent with 30 days' terms: the first invoice's collection cannot turn the subscription
  // past due in the middle of a lifecycle test (no card is set up, so a charge would fail).
  const { id: organizationId } = await post<{ id: string }>(
    '/v1/organizations',
    { name: `Acme ${suffix}`, currency: 'USD', paymentTerms: 'send_invoice', netTermsDays: 30 },
    201,
  );
  const externalOrgId = `ext-${suffix}`;
  await post(`/v1/organizations/${organizationId}/external-ids`, { applicationSlug, externalId: externalOrgId }, 201);
  return { organizationId, externalOrgId, applicationSlug, basic, pro };
}

interface SubscriptionView {
  id: string;
  status: string;
  seats: number;
  assignedSeats: number;
  planCode: string;
  startAt: string;
  currentPeriodStart: string;
  currentPeriodEnd: string;
  cancelAt: string | null;
  change?: { effectiveAt: string; prorationLines: { type: string; amount: number }[] };
}

interface Verdict {
  hasAccess: boolean;
  seatId?: string;
  subscriptionStatus?: string;
  expiresAt?: string;
  reason?: string;
}

const verify = (t: Tenant, userId: string, headers?: Record<string, string>) =>
  post<Verdict>('/v1/seats/verify', { userId, applicationSlug: t.applicationSlug, externalOrgId: t.externalOrgId }, 200, headers);

async function auditActions(targetId: string): Promise<string[]> {
  const rows = await stack.sql<{ action: string }>('select action from audit_events where target_id = $1 order by id', [targetId]);
  return rows.map((row) => row.action);
}

describe('subscriptions and seats through the real stack', () => {
  it('creates, assigns, verifies, unassigns and verifies again; every change is audited', async () => {
    const t = await tenant({ trialDays: 14 });
    const created = await post<SubscriptionView>('/v1/subscriptions', { organizationId: t.organizationId, planCode: t.basic, seats: 2 }, 201);
    expect(created).toMatchObject({ status: 'trialing', seats: 2, assignedSeats: 0, planCode: t.basic });
    expect(await json<SubscriptionView>(await stack.request('GET', `/v1/subscriptions/${created.id}`), 200)).toMatchObject({ id: created.id, status: 'trialing' });

    expect(await verify(t, 'alice')).toEqual({ hasAccess: false, reason: 'not_assigned', subscriptionStatus: 'trialing' });
    const seat = await post<{ id: string; userId: string }>(`/v1/subscriptions/${created.id}/seat-assignments`, { userId: 'alice' }, 201);
    const granted = await verify(t, 'alice');
    expect(granted).toEqual({ hasAccess: true, seatId: seat.id, subscriptionStatus: 'trialing', expiresAt: created.currentPeriodEnd });
    await post(`/v1/subscriptions/${created.id}/seat-assignments`, { userId: 'alice' }, 409);

    await json(await stack.request('DELETE', `/v1/subscriptions/${created.id}/seat-assignments/alice`), 200);
    expect(await verify(t, 'alice')).toEqual({ hasAccess: false, reason: 'not_assigned', subscriptionStatus: 'trialing' });
    await json(await stack.request('DELETE', `/v1/subscriptions/${created.id}/seat-assignments/alice`), 404);
    expect(await auditActions(seat.id)).toEqual(['seat.assigned', 'seat.unassigned']);
    expect(await auditActions(created.id)).toEqual(['subscription.created']);
    expect(await verify({ ...t, externalOrgId: 'nobody' }, 'alice')).toEqual({ hasAccess: false, reason: 'unknown_organization' });
  });

  it('refuses fewer seats than are assigned with a 409 naming the seats to unassign, and changes nothing', async () => {
    const t = await tenant();
    const startAt = new Date(Date.now() - 5 * msPerDay).toISOString();
    const created = await post<SubscriptionView>('/v1/subscriptions', { organizationId: t.organizationId, planCode: t.basic, seats: 3, startAt }, 201);
    for (const userId of ['ann', 'bob', 'cyd']) await post(`/v1/subscriptions/${created.id}/seat-assignments`, { userId }, 201);
    await post(`/v1/subscriptions/${created.id}/seat-assignments`, { userId: 'dan' }, 409);

    const refusal = await post<{ code: string; errors: { field: string; message: string }[] }>(`/v1/subscriptions/${created.id}/seats`, { seats: 1 }, 409);
    expect(refusal.code).toBe('seats_assigned');
    expect(refusal.errors).toHaveLength(2);
    expect(refusal.errors.map((error) => error.message).join(' ')).toMatch(/unassign user (ann|bob|cyd)/);
    expect(await json<SubscriptionView>(await stack.request('GET', `/v1/subscriptions/${created.id}`), 200)).toMatchObject({ seats: 3, assignedSeats: 3 });

    const raised = await post<SubscriptionView>(`/v1/subscriptions/${created.id}/seats`, { seats: 4 }, 200);
    expect(raised).toMatchObject({ seats: 4, assignedSeats: 3 });
    // Five days into the period: the old seat fee is credited and the new one debited for the rest.
    expect(raised.change?.prorationLines.map((line) => Math.sign(line.amount))).toEqual([-1, 1]);
    await post(`/v1/subscriptions/${created.id}/seats`, { seats: 0 }, 400);
    expect(await auditActions(created.id)).toEqual(['subscription.created', 'subscription.seats_changed']);
  });

  it('never assigns more seats than purchased under 20 concurrent requests', async () => {
    const t = await tenant();
    const created = await post<SubscriptionView>('/v1/subscriptions', { organizationId: t.organizationId, planCode: t.basic, seats: 5 }, 201);
    const responses = await Promise.all(
      Array.from({ length: 20 }, (_, index) =>
        stack.request('POST', `/v1/subscriptions/${created.id}/seat-assignments`, { body: { userId: `user-${index}` } }),
      ),
    );
    const statuses = responses.map((response) => response.status).sort();
    expect(statuses.filter((status) => status === 201)).toHaveLength(5);
    expect(statuses.filter((status) => status === 409)).toHaveLength(15);
    const [row] = await stack.sql<{ count: string }>('select count(*) from seat_assignments where subscription_id = $1', [created.id]);
    expect(row?.count).toBe('5');
  });

  it('rejects an assignment beyond the purchased seats in the database itself', async () => {
    const t = await tenant();
    const created = await post<SubscriptionView>('/v1/subscriptions', { organizationId: t.organizationId, planCode: t.basic, seats: 1 }, 201);
    const insert = `insert into seat_assignments (id, subscription_id, user_id, assigned_by, assigned_at) values (gen_random_uuid(), $1, $2, 'sql', now())`;
    await stack.sql(insert, [created.id, 'first']);
    await expect(stack.sql(insert, [created.id, 'second'])).rejects.toThrow(/all its seats assigned/);
    await expect(stack.sql('update subscriptions set seats = 0 where id = $1', [created.id])).rejects.toThrow(/more seats assigned/);
  });

  it('backdates a start, upgrades now with the domain proration lines, and downgrades at period end', async () => {
    const t = await tenant();
    const startAt = new Date(Date.now() - 10 * msPerDay).toISOString();
    const created = await post<SubscriptionView>('/v1/subscriptions', { organizationId: t.organizationId, planCode: t.basic, seats: 2, startAt }, 201);
    expect(created).toMatchObject({ status: 'active', startAt: `${startAt.slice(0, 10)}T00:00:00.000Z`, currentPeriodStart: `${startAt.slice(0, 10)}T00:00:00.000Z` });

    const upgraded = await post<SubscriptionView>(`/v1/subscriptions/${created.id}/change-plan`, { planCode: t.pro }, 200);
    expect(upgraded.planCode).toBe(t.pro);
    const amounts = upgraded.change?.prorationLines.map((line) => [line.type, Math.sign(line.amount)]);
    expect(amounts).toEqual([
      ['proration', -1],
      ['proration', 1],
      ['proration', -1],
      ['proration', 1],
    ]);
    await post(`/v1/subscriptions/${created.id}/change-plan`, { planCode: t.pro }, 409);

    const downgraded = await post<SubscriptionView & { scheduledChanges: { planCode: string; effectiveAt: string }[] }>(
      `/v1/subscriptions/${created.id}/change-plan`,
      { planCode: t.basic },
      200,
    );
    expect(downgraded).toMatchObject({ planCode: t.pro, scheduledChanges: [{ planCode: t.basic, effectiveAt: created.currentPeriodEnd }] });
    expect(downgraded.change).toEqual({ effectiveAt: created.currentPeriodEnd, prorationLines: [] });
  });

  it('pauses and resumes access, and a canceled subscription with a refund loses access at once', async () => {
    const t = await tenant();
    const created = await post<SubscriptionView>('/v1/subscriptions', { organizationId: t.organizationId, planCode: t.basic, seats: 1 }, 201);
    await post(`/v1/subscriptions/${created.id}/seat-assignments`, { userId: 'pat' }, 201);
    expect((await post<SubscriptionView>(`/v1/subscriptions/${created.id}/pause`, undefined, 200)).status).toBe('paused');
    expect(await verify(t, 'pat')).toEqual({ hasAccess: false, reason: 'paused', subscriptionStatus: 'paused' });
    // A repeated pause is a retry: it answers the same state and changes nothing.
    expect((await post<SubscriptionView>(`/v1/subscriptions/${created.id}/pause`, undefined, 200)).status).toBe('paused');
    expect((await post<SubscriptionView>(`/v1/subscriptions/${created.id}/resume`, undefined, 200)).status).toBe('active');
    expect((await verify(t, 'pat')).hasAccess).toBe(true);

    await post(`/v1/subscriptions/${created.id}/cancel`, { at: 'period_end', refund: true }, 422);
    const canceled = await post<SubscriptionView>(`/v1/subscriptions/${created.id}/cancel`, { at: 'now', refund: true }, 200);
    expect(canceled.status).toBe('canceled');
    expect(canceled.change?.prorationLines.every((line) => line.amount < 0)).toBe(true);
    expect(await verify(t, 'pat')).toEqual({ hasAccess: false, reason: 'canceled', subscriptionStatus: 'canceled' });
    await post(`/v1/subscriptions/${created.id}/cancel`, { at: 'now' }, 409);
  });

  it('keeps access until the paid period ends when canceled now without a refund', async () => {
    const t = await tenant();
    const created = await post<SubscriptionView>('/v1/subscriptions', { organizationId: t.organizationId, planCode: t.basic, seats: 1 }, 201);
    await post(`/v1/subscriptions/${created.id}/seat-assignments`, { userId: 'lee' }, 201);
    const canceled = await post<SubscriptionView>(`/v1/subscriptions/${created.id}/cancel`, { at: 'now' }, 200);
    expect(canceled).toMatchObject({ status: 'canceled', cancelAt: created.currentPeriodEnd });
    expect(canceled.change?.prorationLines).toEqual([]);
    expect(await verify(t, 'lee')).toEqual({ hasAccess: true, seatId: expect.any(String), subscriptionStatus: 'canceled', expiresAt: created.currentPeriodEnd });
  });

  it('follows payment signals: past due keeps access through the grace period, recovery restores it, and past the grace access is refused', async () => {
    const t = await tenant();
    const created = await post<SubscriptionView>('/v1/subscriptions', { organizationId: t.organizationId, planCode: t.basic, seats: 1 }, 201);
    await post(`/v1/subscriptions/${created.id}/seat-assignments`, { userId: 'max' }, 201);
    const handle = stack.temporal.workflow.getHandle(workflowIds.subscription(created.id));
    const until = async (expected: Verdict) => {
      for (let attempt = 0; attempt < 100; attempt += 1) {
        const verdict = await verify(t, 'max');
        if (verdict.reason === expected.reason && verdict.subscriptionStatus === expected.subscriptionStatus) return verdict;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      throw new Error(`verify never answered ${JSON.stringify(expected)}`);
    };
    const since = new Date(Date.now() - 2 * msPerDay).toISOString();
    await handle.signal(pastDueSignal, { since });
    const inGrace = await until({ hasAccess: true, subscriptionStatus: 'past_due' });
    expect(inGrace).toMatchObject({ hasAccess: true, expiresAt: new Date(Date.parse(since) + 7 * msPerDay).toISOString() });
    await handle.signal(paymentRecoveredSignal);
    await until({ hasAccess: true, subscriptionStatus: 'active' });
    await handle.signal(pastDueSignal, { since: new Date(Date.now() - 8 * msPerDay).toISOString() });
    expect(await until({ hasAccess: false, reason: 'past_due_grace_over', subscriptionStatus: 'past_due' })).toEqual({
      hasAccess: false,
      reason: 'past_due_grace_over',
      subscriptionStatus: 'past_due',
    });
  });

  it('applies a retried change once: the same Idempotency-Key replays the first answer', async () => {
    const t = await tenant();
    const created = await post<SubscriptionView>('/v1/subscriptions', { organizationId: t.organizationId, planCode: t.basic, seats: 2 }, 201);
    const headers = { 'idempotency-key': `seats-${created.id}` };
    const first = await stack.request('POST', `/v1/subscriptions/${created.id}/seats`, { body: { seats: 5 }, headers });
    const replay = await stack.request('POST', `/v1/subscriptions/${created.id}/seats`, { body: { seats: 5 }, headers });
    expect(replay.headers.get('idempotent-replayed')).toBe('true');
    expect(await replay.json()).toEqual(await first.json());
    const phases = await stack.sql<{ seats: number }>('select seats from subscription_phases where subscription_id = $1 order by sequence', [created.id]);
    expect(phases.map((phase) => phase.seats)).toEqual([2, 5]);
  });

  it('answers many verifications at once, each with its own verdict (they share database round trips)', async () => {
    const [first, second] = [await tenant(), await tenant()] as [Tenant, Tenant];
    const seatIds = new Map<string, string>();
    for (const t of [first, second]) {
      const created = await post<SubscriptionView>('/v1/subscriptions', { organizationId: t.organizationId, planCode: t.basic, seats: 3 }, 201);
      for (const userId of ['ana', 'ben']) {
        const seat = await post<{ id: string }>(`/v1/subscriptions/${created.id}/seat-assignments`, { userId }, 201);
        seatIds.set(`${t.externalOrgId}/${userId}`, seat.id);
      }
    }
    const questions = Array.from({ length: 90 }, (_, index) => ({
      t: [first, second][index % 2]!,
      userId: ['ana', 'ben', 'cy'][Math.floor(index / 2) % 3]!,
      unknownOrganization: index % 9 === 0,
    }));
    const verdicts = await Promise.all(
      questions.map(({ t, userId, unknownOrganization }) => verify(unknownOrganization ? { ...t, externalOrgId: `${t.externalOrgId}-gone` } : t, userId)),
    );
    verdicts.forEach((verdict, index) => {
      const { t, userId, unknownOrganization } = questions[index]!;
      const seatId = seatIds.get(`${t.externalOrgId}/${userId}`);
      if (unknownOrganization) expect(verdict).toEqual({ hasAccess: false, reason: 'unknown_organization' });
      else if (seatId) expect(verdict).toMatchObject({ hasAccess: true, seatId });
      else expect(verdict).toEqual({ hasAccess: false, reason: 'not_assigned', subscriptionStatus: 'active' });
    });
  });

  it('lets a seats:verify product key verify and nothing else', async () => {
    const t = await tenant();
    const other = await tenant();
    const created = await post<SubscriptionView>('/v1/subscriptions', { organizationId: t.organizationId, planCode: t.basic, seats: 1 }, 201);
    await post(`/v1/subscriptions/${created.id}/seat-assignments`, { userId: 'kim' }, 201);
    const { key } = await post<{ key: string }>('/v1/api-keys', { name: 'product', scopes: ['seats:verify'], organizationId: t.organizationId }, 201);
    const auth = { authorization: `Bearer ${key}` };
    expect((await verify(t, 'kim', auth)).hasAccess).toBe(true);
    expect(await verify(other, 'kim', auth)).toEqual({ hasAccess: false, reason: 'unknown_organization' });
    expect((await stack.request('GET', `/v1/subscriptions/${created.id}`, { headers: auth })).status).toBe(403);
    expect((await stack.request('GET', `/v1/organizations/${t.organizationId}`, { headers: auth })).status).toBe(403);
    expect((await stack.request('POST', `/v1/subscriptions/${created.id}/seat-assignments`, { body: { userId: 'x' }, headers: auth })).status).toBe(403);
    expect((await stack.request('POST', '/v1/subscriptions', { body: { organizationId: t.organizationId, planCode: t.pro }, headers: auth })).status).toBe(403);

    const { key: readKey } = await post<{ key: string }>('/v1/api-keys', { name: 'reader', scopes: ['read'], organizationId: t.organizationId }, 201);
    const refused = await stack.request('POST', '/v1/seats/verify', {
      body: { userId: 'kim', applicationSlug: t.applicationSlug, externalOrgId: t.externalOrgId },
      headers: { authorization: `Bearer ${readKey}` },
    });
    expect(refused.status).toBe(403);
  });

  it('answers a product key on the fast lane exactly as the app would, and hands everything else to the app', async () => {
    const t = await tenant();
    const created = await post<SubscriptionView>('/v1/subscriptions', { organizationId: t.organizationId, planCode: t.basic, seats: 1 }, 201);
    const seat = await post<{ id: string }>(`/v1/subscriptions/${created.id}/seat-assignments`, { userId: 'kim' }, 201);
    const { key } = await post<{ key: string }>('/v1/api-keys', { name: 'product', scopes: ['seats:verify'], organizationId: t.organizationId }, 201);
    const { key: readKey } = await post<{ key: string }>('/v1/api-keys', { name: 'reader', scopes: ['read'], organizationId: t.organizationId }, 201);

    const lane = await startLaneServer(stack);
    const ask = (body: unknown, authorization: string, headers: Record<string, string> = {}) => lane.post('/v1/seats/verify', body, authorization, headers);
    try {
      const question = { userId: 'kim', applicationSlug: t.applicationSlug, externalOrgId: t.externalOrgId };
      const expected = { hasAccess: true, seatId: seat.id, subscriptionStatus: created.status, expiresAt: created.currentPeriodEnd };
      // A key never used yet: the app records its use, after which the lane answers from memory.
      expect(await json(await ask(question, `Bearer ${key}`), 200)).toEqual(expected);
      expect(lane.handedToApp()).toBe(1);
      const laned = await ask(question, `Bearer ${key}`, { 'x-request-id': 'lane-1' });
      expect(laned.headers.get('x-request-id')).toBe('lane-1');
      expect(laned.headers.get('content-type')).toBe('application/json');
      expect(await json(laned, 200)).toEqual(expected);
      expect(await json(await ask({ ...question, userId: 'lee' }, `Bearer ${key}`), 200)).toEqual({ hasAccess: false, reason: 'not_assigned', subscriptionStatus: created.status });
      expect(lane.handedToApp()).toBe(1);

      // Everything else is the app's, with the body the lane read.
      const invalid = await ask({ userId: 'kim' }, `Bearer ${key}`);
      expect(invalid.headers.get('content-type')).toContain('application/problem+json');
      expect(await json(invalid, 400)).toMatchObject({ code: 'validation_failed' });
      await json(await ask(question, `Bearer ${readKey}`), 403);
      await json(await ask(question, `Bearer ${readKey}`), 403);
      await json(await ask(question, 'Bearer lf_sk_unknown'), 401);
      expect(lane.handedToApp()).toBe(5);
    } finally {
      await lane.close();
    }
  });

  it('answers 400 for bad input and 404 for a subscription the caller cannot see, writing nothing', async () => {
    const t = await tenant();
    await post('/v1/subscriptions', { organizationId: t.organizationId, planCode: t.basic, seats: 1, colour: 'red' }, 400);
    await post('/v1/subscriptions', { organizationId: t.organizationId, planCode: 'no-such-plan' }, 422);
    await post('/v1/subscriptions', { organizationId: t.organizationId, planCode: t.basic, startAt: new Date(Date.now() + 3 * msPerDay).toISOString() }, 422);
    await json(await stack.request('GET', `/v1/subscriptions/${randomUUID()}`), 404);
    const [row] = await stack.sql<{ count: string }>('select count(*) from subscriptions where organization_id = $1', [t.organizationId]);
    expect(row?.count).toBe('0');
    await post('/v1/subscriptions', { organizationId: t.organizationId, planCode: t.basic }, 201);
    await post('/v1/subscriptions', { organizationId: t.organizationId, planCode: t.pro }, 409);
  });
});
