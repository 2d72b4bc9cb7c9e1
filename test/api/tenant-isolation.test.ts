import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { grantsScope, policy } from '../../src/api/auth/policy.js';
import type { Scope } from '../../src/db/entities/index.js';
import { startTestStack, type TestStack } from '../support/stack.js';
import { expectProblem, type ProblemBody } from './support/problems.js';
import {
  buildRequest,
  connectIntegration,
  createBudget,
  createContract,
  missingId,
  openDispute,
  platformObjects,
  routeTable,
  send,
  type RouteCase,
  type RouteContext,
} from './support/route-table.js';
import { bearer, call, createApiKey, createCatalog, createTenant, mutableState, rowCounts, type Tenant } from './support/world.js';

let stack: TestStack;
let a: Tenant;
let b: Tenant;
let aChild: Tenant;
let aSibling: Tenant;
let contextFor: (target: Tenant) => RouteContext;

beforeAll(async () => {
  stack = await startTestStack();
  const catalog = await createCatalog(stack);
  a = await createTenant(stack, catalog, { label: 'tenant-a' });
  b = await createTenant(stack, catalog, { label: 'tenant-b' });
  aChild = await createTenant(stack, catalog, { label: 'a-child', parentId: a.id });
  aSibling = await createTenant(stack, catalog, { label: 'a-sibling', parentId: a.id });
  const readKey = await createApiKey(stack, { scopes: ['read'], platformRole: 'platform_admin' });
  const platform = await platformObjects(stack, bearer(readKey.key));
  contextFor = (target) => ({ stack, catalog, target, platform });
});
afterAll(async () => {
  await stack.stop();
});

const uuids = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi;

/** What a problem tells the caller, minus the per-request id and the id the caller sent itself. */
function disclosed(problem: ProblemBody) {
  const { requestId, ...rest } = problem;
  expect(requestId).toEqual(expect.any(String));
  return { ...rest, detail: problem.detail.replace(uuids, '<id>') };
}

const organizationRoutes = routeTable.filter(
  (route): route is RouteCase & { notFound: NonNullable<RouteCase['notFound']> } => route.owner === 'organization' && route.notFound !== undefined,
);

describe('a caller from organization A using organization B’s ids', () => {
  it('is exercised on every route that names an organization or its object', () => {
    expect(organizationRoutes.map((route) => route.name)).toEqual(routeTable.filter((route) => route.owner === 'organization').map((route) => route.name));
    expect(organizationRoutes.length).toBeGreaterThanOrEqual(15);
  });

  // People's tokens carry read and write; usage ingestion takes a product's usage:write key.
  const callers = [
    ['A’s OWNER (JWT)', () => a.people.OWNER.authorization, ['read', 'write']],
    ['a write key confined to A', () => a.keys.write.authorization, ['write']],
    ['a usage:write key confined to A', () => a.keys['usage:write'].authorization, ['usage:write']],
  ] as const;
  /** Moving money (invoice runs, payments, voids, credit notes) is the operator's: no organization role may, even at its own ids. */
  const operatorOnly = (route: RouteCase) => policy[route.action].organization.length === 0;
  const allowedTo = (scopes: readonly Scope[]) => organizationRoutes.filter((route) => !operatorOnly(route) && grantsScope(scopes, policy[route.action].scope));

  it('has, for every route, a caller whose scopes allow it at A’s own ids', () => {
    const covered = new Set(callers.flatMap(([, , scopes]) => allowedTo(scopes).map((route) => route.name)));
    expect(organizationRoutes.filter((route) => !operatorOnly(route) && !covered.has(route.name)).map((route) => route.name)).toEqual([]);
  });

  describe.each(callers)('as %s', (_, caller, scopes) => {
    it.each(organizationRoutes.map((route) => [route.name, route] as const))(
      '%s: 404 exactly like an id that does not exist, and B is untouched',
      async (__, route) => {
        const crossRequest = await buildRequest(route, contextFor(b));
        const missingRequest = await buildRequest(route, contextFor(b), route.notFound);
        const before = { counts: await rowCounts(stack), state: await mutableState(stack) };
        const crossTenant = await send(stack, crossRequest, caller());
        const crossProblem = await expectProblem(crossTenant, 404, route.notFound.code);
        const missing = await send(stack, missingRequest, caller());
        const missingProblem = await expectProblem(missing, 404, route.notFound.code);
        expect(disclosed(crossProblem)).toEqual(disclosed(missingProblem));
        expect(Object.keys(crossProblem).sort()).toEqual(Object.keys(missingProblem).sort());
        expect(crossTenant.headers.get('content-type')).toBe(missing.headers.get('content-type'));
        expect({ counts: await rowCounts(stack), state: await mutableState(stack) }).toEqual(before);
      },
    );

    it('the same routes at A’s own ids are allowed (so the 404 above is about B, not the caller)', async () => {
      for (const route of allowedTo(scopes)) {
        const response = await send(stack, await buildRequest(route, contextFor(a)), caller());
        const answer = { route: route.name, status: response.status, code: response.status === 403 ? ((await response.json()) as { code?: string }).code : undefined };
        // A route that asks more than its policy (only people decide, only the requester cancels) may refuse this caller, with a 403: never a 404.
        const allowed: object[] = [{ route: route.name, status: route.successStatus, code: undefined }];
        if (route.refusedBeyondPolicy) allowed.push({ route: route.name, status: 403, code: route.refusedBeyondPolicy });
        expect(allowed).toContainEqual(answer);
      }
      // The operator's routes answer A's own ids with 403: A sees the object, it only may not act on it.
      for (const route of organizationRoutes.filter(operatorOnly)) {
        const response = await send(stack, await buildRequest(route, contextFor(a)), caller());
        expect({ route: route.name, status: response.status }).toEqual({ route: route.name, status: 403 });
      }
    });
  });

  it('cannot revoke a platform key or disable a platform endpoint: 404 as for a missing id', async () => {
    const platformRoutes = routeTable.filter((route) => route.owner === 'platform' && route.method === 'DELETE');
    expect(platformRoutes).toHaveLength(2);
    for (const route of platformRoutes) {
      const ctx = contextFor(a);
      const response = await send(stack, await buildRequest(route, ctx), a.people.OWNER.authorization);
      const missing = await send(stack, await buildRequest(route, ctx, route.notFound), a.people.OWNER.authorization);
      expect(disclosed(await expectProblem(response, 404, route.notFound!.code))).toEqual(disclosed(await expectProblem(missing, 404, route.notFound!.code)));
    }
    const [key] = await stack.sql<{ revoked_at: Date | null }>('select revoked_at from api_keys where id = $1', [contextFor(a).platform.apiKeyId]);
    expect(key?.revoked_at).toBeNull();
  });

  it('cannot list every organization’s disputes, contracts or budgets: without an organization the list is the platform’s (403)', async () => {
    for (const path of ['/v1/disputes', '/v1/contracts', '/v1/budgets']) {
      for (const authorization of [a.people.OWNER.authorization, a.keys.write.authorization]) {
        await expectProblem(await stack.request('GET', path, { headers: { authorization } }), 403, 'forbidden');
      }
    }
  });

  it('cannot list or connect ERP integrations, even for A: they are the platform’s (403)', async () => {
    const before = { counts: await rowCounts(stack), state: await mutableState(stack) };
    const connection = (await buildRequest(routeTable.find((route) => route.name === 'POST /v1/integrations')!, contextFor(a))).body as Record<string, unknown>;
    for (const authorization of [a.people.OWNER.authorization, a.keys.write.authorization]) {
      await expectProblem(await stack.request('GET', '/v1/integrations', { headers: { authorization } }), 403, 'forbidden');
      const response = await stack.request('POST', '/v1/integrations', { body: { ...connection, organizationId: a.id }, headers: { authorization } });
      await expectProblem(response, 403, 'forbidden');
    }
    expect({ counts: await rowCounts(stack), state: await mutableState(stack) }).toEqual(before);
  });

  it('cannot see or change an ERP integration, even one covering A: 404 exactly like an integration that does not exist; nothing written', async () => {
    const integrationRoutes = routeTable.filter((route) => route.path.startsWith('/v1/integrations/{id}'));
    expect(integrationRoutes).toHaveLength(7);
    // Disconnected at once, so none of A's documents is ever queued for it (nothing new is queued for a disconnected integration).
    const coveringA = await connectIntegration(stack, a.id);
    await call(stack, 'POST', `/v1/integrations/${coveringA}/disconnect`, { expect: 200 });
    const attempts = [];
    for (const route of integrationRoutes) {
      for (const id of [contextFor(a).platform.integrationId, coveringA]) {
        // Built first: the disconnection's builder connects an integration of its own.
        attempts.push({ route: route.name, cross: await buildRequest(route, contextFor(a), { params: { id } }), missing: await buildRequest(route, contextFor(a), route.notFound) });
      }
    }
    const before = { counts: await rowCounts(stack), state: await mutableState(stack) };
    for (const attempt of attempts) {
      for (const authorization of [a.people.OWNER.authorization, a.keys.write.authorization]) {
        const crossProblem = await expectProblem(await send(stack, attempt.cross, authorization), 404, 'integration_not_found');
        const missingProblem = await expectProblem(await send(stack, attempt.missing, authorization), 404, 'integration_not_found');
        expect({ route: attempt.route, problem: disclosed(crossProblem) }).toEqual({ route: attempt.route, problem: disclosed(missingProblem) });
      }
    }
    expect({ counts: await rowCounts(stack), state: await mutableState(stack) }).toEqual(before);
  });

  it('lists of A contain only A’s objects', async () => {
    // A dispute, a contract and a budget in each tenant, so A's lists have one to show and one to leave out.
    await openDispute(contextFor(a));
    await openDispute(contextFor(b));
    await createContract(contextFor(a));
    await createContract(contextFor(b));
    await createBudget(contextFor(a));
    await createBudget(contextFor(b));
    const lists = [
      `/v1/organizations/${a.id}/departments`,
      `/v1/organizations/${a.id}/members`,
      `/v1/organizations/${a.id}/external-ids`,
      `/v1/api-keys?organizationId=${a.id}`,
      `/v1/webhook-endpoints?organizationId=${a.id}`,
      `/v1/audit-events?organizationId=${a.id}`,
      `/v1/disputes?organizationId=${a.id}`,
      `/v1/contracts?organizationId=${a.id}`,
      `/v1/budgets?organizationId=${a.id}`,
    ];
    for (const path of lists) {
      const page = await call<{ data: { organizationId: string | null }[] }>(stack, 'GET', `${path}${path.includes('?') ? '&' : '?'}limit=100`, {
        authorization: a.people.OWNER.authorization,
      });
      expect(page.data.length).toBeGreaterThan(0);
      expect(new Set(page.data.map((item) => item.organizationId))).toEqual(new Set([a.id]));
    }
  });

  it('cannot name B’s department in A’s budget or A’s cost allocation: 422 department_not_found exactly as for a department that does not exist; nothing written', async () => {
    const attempts = (departmentId: string) => [
      {
        method: 'POST',
        path: '/v1/budgets',
        body: { organizationId: a.id, departmentId, name: 'Research', period: 'month', amount: 10_000_000_000, currency: 'USD', enforcement: 'none' },
      },
      { method: 'PUT', path: `/v1/subscriptions/${a.subscriptionId}/cost-allocations`, body: { allocations: [{ departmentId, percent: '100' }] } },
    ];
    const before = { counts: await rowCounts(stack), state: await mutableState(stack) };
    const unknownDepartment = attempts(missingId);
    for (const [index, attempt] of attempts(b.departmentId).entries()) {
      for (const authorization of [a.people.OWNER.authorization, a.keys.write.authorization]) {
        const cross = await stack.request(attempt.method, attempt.path, { body: attempt.body, headers: { authorization } });
        const crossProblem = await expectProblem(cross, 422, 'department_not_found');
        const unknown = unknownDepartment[index]!;
        const missing = await stack.request(unknown.method, unknown.path, { body: unknown.body, headers: { authorization } });
        expect(disclosed(crossProblem)).toEqual(disclosed(await expectProblem(missing, 422, 'department_not_found')));
      }
    }
    expect({ counts: await rowCounts(stack), state: await mutableState(stack) }).toEqual(before);
  });
});

describe('the organization hierarchy', () => {
  it('lets the parent’s OWNER see a child organization and the whole tree', async () => {
    const child = await call<{ id: string; parentId: string }>(stack, 'GET', `/v1/organizations/${aChild.id}`, { authorization: a.people.OWNER.authorization });
    expect(child).toMatchObject({ id: aChild.id, parentId: a.id });
    const tree = await call<{ id: string; children: { id: string }[] }>(stack, 'GET', `/v1/organizations/${a.id}/hierarchy`, {
      authorization: a.people.OWNER.authorization,
    });
    expect(tree.id).toBe(a.id);
    const children = await stack.sql<{ id: string }>('select id from organizations where parent_id = $1', [a.id]);
    expect(tree.children.map((node) => node.id).sort()).toEqual(children.map((row) => row.id).sort());
    expect(tree.children.map((node) => node.id)).toEqual(expect.arrayContaining([aChild.id, aSibling.id]));
  });

  it.each([
    ['the parent', () => a.id],
    ['a sibling', () => aSibling.id],
    ['another root', () => b.id],
  ])('never shows %s to a child’s OWNER or a key confined to the child (404)', async (_, target) => {
    for (const authorization of [aChild.people.OWNER.authorization, aChild.keys.write.authorization]) {
      for (const path of [`/v1/organizations/${target()}`, `/v1/organizations/${target()}/hierarchy`, `/v1/organizations/${target()}/members`]) {
        await expectProblem(await stack.request('GET', path, { headers: { authorization } }), 404, 'organization_not_found');
      }
    }
  });

  it('shows a child’s OWNER only its own subtree', async () => {
    const tree = await call<{ id: string; children: unknown[] }>(stack, 'GET', `/v1/organizations/${aChild.id}/hierarchy`, {
      authorization: aChild.people.OWNER.authorization,
    });
    expect(tree).toEqual({ id: aChild.id, name: aChild.name, children: [] });
  });

  it('does not let a child’s OWNER create an organization under the parent or a sibling', async () => {
    for (const parentId of [a.id, aSibling.id]) {
      const response = await stack.request('POST', '/v1/organizations', {
        body: { name: 'Sneaky', currency: 'USD', parentId },
        headers: { authorization: aChild.people.OWNER.authorization },
      });
      await expectProblem(response, 404, 'organization_not_found');
    }
  });
});
