import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startTestStack, type TestStack } from '../support/stack.js';
import { eventually } from '../workflow/support/subscriptions.js';
import { expectProblem } from './support/problems.js';
import { bearer, call, signJwt, unique } from './support/world.js';

let stack: TestStack;
beforeAll(async () => {
  stack = await startTestStack();
}, 120_000);
afterAll(async () => {
  await stack?.stop();
});

interface RequestView {
  id: string;
  status: string;
  currentLevel: number;
  requestedBy: string;
  levels: { level: number; role: string; status: string; decisions: { userId: string; decision: string }[] }[];
  comments: { userId: string; body: string }[];
  timeline: { type: string }[];
  execution: { status: string } | null;
}

/** A person: a user id and the Authorization header of their JWT. */
async function person(platformRole?: 'finance' | 'platform_admin') {
  const userId = unique(platformRole ?? 'user');
  return { userId, authorization: bearer(await signJwt(userId, platformRole)) };
}

async function organizationWithOwner() {
  const { id } = await call<{ id: string }>(stack, 'POST', '/v1/organizations', { body: { name: unique('org'), currency: 'USD', paymentTerms: 'send_invoice', netTermsDays: 30 } });
  const owner = await person();
  await call(stack, 'POST', `/v1/organizations/${id}/members`, { body: { userId: owner.userId, role: 'OWNER' } });
  return { id, owner };
}

async function manualRule(organizationId: string, levels: object[]) {
  return call<{ id: string }>(stack, 'POST', '/v1/approval-rules', { body: { name: 'Purchases', subjectType: 'manual', organizationId, levels } });
}

const openManual = (organizationId: string, authorization: string, title = 'New laptops') =>
  call<RequestView>(stack, 'POST', '/v1/approval-requests', { body: { organizationId, subjectType: 'manual', title, amount: 250_000, currency: 'USD' }, authorization });

const decideAs = (id: string, authorization: string, decision: 'approve' | 'reject' = 'approve') =>
  stack.request('POST', `/v1/approval-requests/${id}/decisions`, { body: { decision }, headers: { authorization } });

describe('approvals through the real stack', () => {
  it('refuses a rule whose quorum no level can reach, and writes nothing', async () => {
    const { id } = await organizationWithOwner();
    const response = await stack.request('POST', '/v1/approval-rules', {
      body: { name: 'Impossible', subjectType: 'manual', organizationId: id, levels: [{ role: 'OWNER', approvers: ['a'], quorum: 2 }] },
      headers: { authorization: bearer(process.env.LEDGERFLOW_ADMIN_KEY ?? '') },
    });
    expect(response.status).toBeGreaterThanOrEqual(400);
    expect(await stack.sql('select id from approval_rules where organization_id = $1', [id])).toEqual([]);
  });

  it('takes a request through two levels decided by two people, refusing the requester and a second decision', async () => {
    const { id: organizationId, owner } = await organizationWithOwner();
    await manualRule(organizationId, [{ role: 'finance' }, { role: 'platform_admin' }]);
    const finance = await person('finance');
    const admin = await person('platform_admin');
    const opened = await openManual(organizationId, owner.authorization);
    expect(opened).toMatchObject({ status: 'pending', currentLevel: 1, requestedBy: owner.userId });
    await expectProblem(await decideAs(opened.id, owner.authorization), 403, 'not_an_approver');
    await expectProblem(await decideAs(opened.id, admin.authorization), 403, 'not_an_approver');

    const inbox = await call<{ data: { id: string }[] }>(stack, 'GET', '/v1/approval-requests?assignedTo=me', { authorization: finance.authorization });
    expect(inbox.data.map((request) => request.id)).toContain(opened.id);

    const first = await decideAs(opened.id, finance.authorization);
    expect(first.status).toBe(200);
    expect(((await first.json()) as RequestView).currentLevel).toBe(2);
    await expectProblem(await decideAs(opened.id, finance.authorization), 409, 'already_decided');
    const afterFirst = await call<{ data: { id: string }[] }>(stack, 'GET', '/v1/approval-requests?assignedTo=me', { authorization: finance.authorization });
    expect(afterFirst.data.map((request) => request.id)).not.toContain(opened.id);

    const second = await decideAs(opened.id, admin.authorization);
    expect(((await second.json()) as RequestView).status).toBe('approved');
    const executed = await eventually(async () => {
      const view = await call<RequestView>(stack, 'GET', `/v1/approval-requests/${opened.id}`, { authorization: owner.authorization });
      return view.execution ? view : undefined;
    });
    expect(executed.execution).toMatchObject({ status: 'executed' });
    expect(executed.levels.map((level) => [level.status, level.decisions.map((decision) => decision.userId)])).toEqual([
      ['approved', [finance.userId]],
      ['approved', [admin.userId]],
    ]);
    await expectProblem(await decideAs(opened.id, (await person('finance')).authorization), 409, 'already_decided');

    const events = await stack.sql<{ type: string }>(`select type from webhook_events where organization_id = $1 order by id`, [organizationId]);
    expect(events.map((event) => event.type)).toEqual(['approval.requested', 'approval.level_approved', 'approval.level_approved', 'approval.approved']);
    const audits = await stack.sql<{ action: string; actor_id: string }>(`select action, actor_id from audit_events where target_id = $1 order by id`, [opened.id]);
    expect(audits.map((row) => row.action)).toEqual(['approval_request.created', 'approval_request.decided', 'approval_request.decided', 'approval_request.executed']);
    expect(audits[1]?.actor_id).toBe(finance.userId);
  });

  it('keeps comments and lets only the requester cancel; a rejection carries out nothing', async () => {
    const { id: organizationId, owner } = await organizationWithOwner();
    const finance = await person('finance');
    await manualRule(organizationId, [{ role: 'finance' }]);
    const canceled = await openManual(organizationId, owner.authorization);
    await call(stack, 'POST', `/v1/approval-requests/${canceled.id}/comments`, { body: { body: 'Needed for the new hires.' }, authorization: owner.authorization });
    await expectProblem(await stack.request('POST', `/v1/approval-requests/${canceled.id}/cancel`, { headers: { authorization: finance.authorization } }), 403, 'forbidden');
    const view = await call<RequestView>(stack, 'POST', `/v1/approval-requests/${canceled.id}/cancel`, { authorization: owner.authorization, expect: 200 });
    expect(view.status).toBe('canceled');
    expect(view.comments).toEqual([expect.objectContaining({ userId: owner.userId, body: 'Needed for the new hires.' })]);

    const rejected = await openManual(organizationId, owner.authorization);
    const answer = await decideAs(rejected.id, finance.authorization, 'reject');
    expect(((await answer.json()) as RequestView).status).toBe('rejected');
    const final = await eventually(async () => {
      const [row] = await stack.sql<{ status: string; execution: unknown }>('select status, execution from approval_requests where id = $1', [rejected.id]);
      return row?.status === 'rejected' ? row : undefined;
    });
    expect(final.execution).toBeNull();
  });

  it('decides 50 requests in bulk, each on its own: 3 the caller may not decide and one unseen id are reported', async () => {
    const finance = await person('finance');
    const own = await organizationWithOwner();
    const other = await organizationWithOwner();
    await manualRule(own.id, [{ role: 'finance' }]);
    await manualRule(other.id, [{ role: 'platform_admin' }]);
    const decidable = await Promise.all(Array.from({ length: 47 }, (_, index) => openManual(own.id, own.owner.authorization, `Item ${index}`)));
    const ineligible = await Promise.all(Array.from({ length: 3 }, () => openManual(other.id, other.owner.authorization)));
    const ids = [...decidable, ...ineligible].map((request) => request.id);
    const { results } = await call<{ results: { id: string; status: string; error?: { code: string } }[] }>(stack, 'POST', '/v1/approval-requests/bulk-decisions', {
      body: { ids, decision: 'approve' },
      authorization: finance.authorization,
      expect: 200,
    });
    expect(results.map((result) => result.id)).toEqual(ids);
    expect(results.filter((result) => result.status === 'approved')).toHaveLength(47);
    expect(results.slice(47).map((result) => result.error?.code)).toEqual(['not_an_approver', 'not_an_approver', 'not_an_approver']);

    // An OWNER of one tenant cannot tell another tenant's request from a missing one.
    const missing = '00000000-0000-4000-8000-000000000000';
    const crossTenant = await call<{ results: { id: string; status: string; error?: { code: string } }[] }>(stack, 'POST', '/v1/approval-requests/bulk-decisions', {
      body: { ids: [ineligible[0]?.id, missing], decision: 'reject' },
      authorization: own.owner.authorization,
      expect: 200,
    });
    expect(crossTenant.results.map((result) => [result.status, result.error?.code])).toEqual([
      ['not_found', 'approval_request_not_found'],
      ['not_found', 'approval_request_not_found'],
    ]);
    const [row] = await stack.sql<{ status: string }>('select status from approval_requests where id = $1', [ineligible[0]?.id]);
    expect(row?.status).toBe('pending');
  }, 120_000);
});
