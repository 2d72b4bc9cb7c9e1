import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { policy } from '../../src/api/auth/policy.js';
import { startTestStack, type TestStack } from '../support/stack.js';
import { buildRequest, platformObjects, routeTable, send, type MatrixRow, type RouteContext } from './support/route-table.js';
import { bearer, bootstrapAuthorization, createApiKey, createCatalog, createTenant, signJwt, unique, type Tenant } from './support/world.js';

/**
 * The callers, in the column order of the matrix below. The target organization T is a child of
 * P; "member" columns are people with that role in T, "parent" columns people with that role in
 * P, "key" columns API keys confined to T with only that scope.
 */
const columns = [
  'bootstrap key',
  'platform_admin key (write)',
  'platform_admin key (read)',
  'finance JWT',
  'finance key (read)',
  'OWNER',
  'BILLING_ADMIN',
  'ADMIN',
  'MEMBER',
  'parent OWNER',
  'parent BILLING_ADMIN',
  'parent ADMIN',
  'parent MEMBER',
  'key read',
  'key write',
  'key usage:write',
  'key seats:verify',
  'parent key write',
  'stranger JWT',
] as const;
type Column = (typeof columns)[number];
type Outcome = 'ok' | '403' | '404';

function row(cells: string): Record<Column, Outcome> {
  const outcomes = cells.split(/[\s|]+/).filter(Boolean);
  if (outcomes.length !== columns.length || outcomes.some((cell) => !['ok', '403', '404'].includes(cell))) {
    throw new Error(`a matrix row needs ${columns.length} cells of ok/403/404: "${cells}"`);
  }
  return Object.fromEntries(columns.map((column, index) => [column, outcomes[index] as Outcome])) as Record<Column, Outcome>;
}

/**
 * THE EXPECTED MATRIX, written out by hand from the product rules (issue #4): platform roles act
 * everywhere, an organization role acts in its organization and (admin roles only) in its
 * children, nothing reaches up, a key needs the scope, and an organization the caller cannot see
 * is a 404. Changing the policy table must change this table too.
 *
 *                                          platform callers            | members of T        | members of T's parent P | keys confined to T    | P key | stranger
 *                                          boot adm  admR finJ finK    | OWN  BA   ADM  MEM  | OWN  BA   ADM  MEM      | read write usage seats| write |
 */
const expected: Partial<Record<MatrixRow, Record<Column, Outcome>>> = {
  'catalog.read':                     row('ok   ok   ok   ok   ok   | ok   ok   ok   ok   | ok   ok   ok   ok   | ok   ok   403  403  | ok   | 403'),
  'catalog.write':                    row('ok   ok   403  403  403  | 403  403  403  403  | 403  403  403  403  | 403  403  403  403  | 403  | 403'),
  'organization.create':              row('ok   ok   403  403  403  | 403  403  403  403  | 403  403  403  403  | 403  403  403  403  | 403  | 403'),
  'organization.createChild':         row('ok   ok   403  403  403  | ok   403  403  403  | ok   403  403  404  | 403  ok   403  403  | ok   | 404'),
  'organization.read':                row('ok   ok   ok   ok   ok   | ok   ok   ok   ok   | ok   ok   ok   404  | ok   ok   403  403  | ok   | 404'),
  'organization.update':              row('ok   ok   403  403  403  | ok   ok   403  403  | ok   ok   403  404  | 403  ok   403  403  | ok   | 404'),
  'department.read':                  row('ok   ok   ok   ok   ok   | ok   ok   ok   ok   | ok   ok   ok   404  | ok   ok   403  403  | ok   | 404'),
  'department.write':                 row('ok   ok   403  403  403  | ok   ok   403  403  | ok   ok   403  404  | 403  ok   403  403  | ok   | 404'),
  'member.read':                      row('ok   ok   ok   ok   ok   | ok   ok   ok   403  | ok   ok   ok   404  | ok   ok   403  403  | ok   | 404'),
  'member.write':                     row('ok   ok   403  403  403  | ok   403  403  403  | ok   403  403  404  | 403  ok   403  403  | ok   | 404'),
  'externalId.read':                  row('ok   ok   ok   ok   ok   | ok   ok   ok   403  | ok   ok   ok   404  | ok   ok   403  403  | ok   | 404'),
  'externalId.write':                 row('ok   ok   403  403  403  | ok   ok   403  403  | ok   ok   403  404  | 403  ok   403  403  | ok   | 404'),
  'apiKey.read':                      row('ok   ok   ok   403  403  | ok   403  403  403  | ok   403  403  404  | ok   ok   403  403  | ok   | 404'),
  'apiKey.write':                     row('ok   ok   403  403  403  | ok   403  403  403  | ok   403  403  404  | 403  ok   403  403  | ok   | 404'),
  'webhookEndpoint.read':             row('ok   ok   ok   403  403  | ok   ok   403  403  | ok   ok   403  404  | ok   ok   403  403  | ok   | 404'),
  'webhookEndpoint.write':            row('ok   ok   403  403  403  | ok   ok   403  403  | ok   ok   403  404  | 403  ok   403  403  | ok   | 404'),
  'audit.read':                       row('ok   ok   ok   ok   ok   | ok   403  403  403  | ok   403  403  404  | ok   ok   403  403  | ok   | 404'),
  'subscription.read':                row('ok   ok   ok   ok   ok   | ok   ok   ok   403  | ok   ok   ok   404  | ok   ok   403  403  | ok   | 404'),
  'subscription.manage':              row('ok   ok   403  403  403  | ok   ok   403  403  | ok   ok   403  404  | 403  ok   403  403  | ok   | 404'),
  'seat.assign':                      row('ok   ok   403  403  403  | ok   ok   ok   403  | ok   ok   ok   404  | 403  ok   403  403  | ok   | 404'),
  // Only the seats:verify scope verifies; a caller who cannot see the organization gets the
  // same 200 as for an unknown external id (hasAccess false, reason unknown_organization).
  'invoice.read':                     row('ok   ok   ok   ok   ok   | ok   ok   403  403  | ok   ok   403  404  | ok   ok   403  403  | ok   | 404'),
  'invoice.run':                      row('ok   ok   403  ok   403  | 403  403  403  403  | 403  403  403  404  | 403  403  403  403  | 403  | 404'),
  // Recording payments, voiding and crediting move money: the operator's finance team only, never the customer itself.
  'invoice.pay':                      row('ok   ok   403  ok   403  | 403  403  403  403  | 403  403  403  404  | 403  403  403  403  | 403  | 404'),
  'invoice.void':                     row('ok   ok   403  ok   403  | 403  403  403  403  | 403  403  403  404  | 403  403  403  403  | 403  | 404'),
  'creditNote.write':                 row('ok   ok   403  ok   403  | 403  403  403  403  | 403  403  403  404  | 403  403  403  403  | 403  | 404'),
  'seat.verify':                      row('ok   403  403  403  403  | 403  403  403  403  | 403  403  403  ok   | 403  403  403  ok   | 403  | ok'),
  // Only the usage:write scope ingests (people's tokens carry read/write); reading usage is like reading subscriptions.
  'usage.write':                      row('ok   403  403  403  403  | 403  403  403  403  | 403  403  403  404  | 403  403  ok   403  | 403  | 404'),
  'usage.read':                       row('ok   ok   ok   ok   ok   | ok   ok   ok   403  | ok   ok   ok   404  | ok   ok   403  403  | ok   | 404'),
  'paymentMethod.setup':              row('ok   ok   403  403  403  | ok   ok   403  403  | ok   ok   403  404  | 403  ok   403  403  | ok   | 404'),
  // Rules: an organization's are its OWNER's to read and write; global ones (below) the platform's.
  'approvalRule.read':                row('ok   ok   ok   ok   ok   | ok   403  403  403  | ok   403  403  404  | ok   ok   403  403  | ok   | 404'),
  'approvalRule.write':               row('ok   ok   403  403  403  | ok   403  403  403  | ok   403  403  404  | 403  ok   403  403  | ok   | 404'),
  // Requests are their organization's admin roles' and the platform's, as subscriptions are (to read and comment on); finance also opens them.
  'approvalRequest.read':             row('ok   ok   ok   ok   ok   | ok   ok   ok   403  | ok   ok   ok   404  | ok   ok   403  403  | ok   | 404'),
  'approvalRequest.create':           row('ok   ok   403  ok   403  | ok   ok   ok   403  | ok   ok   ok   404  | 403  ok   403  403  | ok   | 404'),
  // Only people decide, at a level they hold, never on their own request (docs/approvals.md): the
  // table's requests are the bootstrap key's under one ADMIN level, which T's and P's admin roles
  // hold and finance does not. Keys the policy lets send a decision get 403 not_an_approver.
  'approvalRequest.decide':           row('403  403  403  403  403  | ok   ok   ok   403  | ok   ok   ok   404  | 403  403  403  403  | 403  | 404'),
  // A customer's billing roles dispute its invoices, as they read them, and comment; so do the
  // operator's platform roles (the bootstrap key opens the table's disputes).
  'dispute.read':                     row('ok   ok   ok   ok   ok   | ok   ok   403  403  | ok   ok   403  404  | ok   ok   403  403  | ok   | 404'),
  'dispute.open':                     row('ok   ok   403  ok   403  | ok   ok   403  403  | ok   ok   403  404  | 403  ok   403  403  | ok   | 404'),
  'dispute.comment':                  row('ok   ok   403  ok   403  | ok   ok   403  403  | ok   ok   403  404  | 403  ok   403  403  | ok   | 404'),
  // Only the customer withdraws its dispute: no platform role may, not even the bootstrap key.
  'dispute.withdraw':                 row('403  403  403  403  403  | ok   ok   403  403  | ok   ok   403  404  | 403  ok   403  403  | ok   | 404'),
  // Resolving moves money (a credit, a refund) or refuses to: the operator's finance team only, never the customer itself.
  'dispute.resolve':                  row('ok   ok   403  ok   403  | 403  403  403  403  | 403  403  403  404  | 403  403  403  403  | 403  | 404'),
  // Contracts are negotiated by the operator: the customer's billing roles read theirs, only platform roles create, amend, renew,
  // terminate them and record SLA breaches (finance too: a contract sets what is billed).
  'contract.read':                    row('ok   ok   ok   ok   ok   | ok   ok   403  403  | ok   ok   403  404  | ok   ok   403  403  | ok   | 404'),
  'contract.write':                   row('ok   ok   403  ok   403  | 403  403  403  403  | 403  403  403  404  | 403  403  403  403  | 403  | 404'),
  // An organization's billing people set its budgets (the platform_admin too); its admins and the operator's finance team follow them.
  'budget.read':                      row('ok   ok   ok   ok   ok   | ok   ok   ok   403  | ok   ok   ok   404  | ok   ok   403  403  | ok   | 404'),
  'budget.write':                     row('ok   ok   403  403  403  | ok   ok   403  403  | ok   ok   403  404  | 403  ok   403  403  | ok   | 404'),
  // ERP integrations are the operator's books: its finance team maps accounts and re-syncs, no organization role does anything.
  // These rows are the list and the connection (refused, 403); an integration named by id is below (@id).
  'integration.read':                 row('ok   ok   ok   ok   ok   | 403  403  403  403  | 403  403  403  403  | 403  403  403  403  | 403  | 403'),
  'integration.write':                row('ok   ok   403  ok   403  | 403  403  403  403  | 403  403  403  403  | 403  403  403  403  | 403  | 403'),
  // Platform objects (no organization): only platform roles; an organization's object ids are
  // invisible to everyone else (404), platform-wide lists and creation are refused (403).
  'apiKey.read@platform':             row('ok   ok   ok   403  403  | 403  403  403  403  | 403  403  403  403  | 403  403  403  403  | 403  | 403'),
  'apiKey.write@platform':            row('ok   ok   403  403  403  | 403  403  403  403  | 403  403  403  403  | 403  403  403  403  | 403  | 403'),
  'apiKey.revoke@platform':           row('ok   ok   403  403  403  | 404  404  404  404  | 404  404  404  404  | 404  404  404  404  | 404  | 404'),
  'webhookEndpoint.read@platform':    row('ok   ok   ok   403  403  | 403  403  403  403  | 403  403  403  403  | 403  403  403  403  | 403  | 403'),
  'webhookEndpoint.write@platform':   row('ok   ok   403  403  403  | 403  403  403  403  | 403  403  403  403  | 403  403  403  403  | 403  | 403'),
  'webhookEndpoint.disable@platform': row('ok   ok   403  403  403  | 404  404  404  404  | 404  404  404  404  | 404  404  404  404  | 404  | 404'),
  'audit.read@platform':              row('ok   ok   ok   ok   ok   | 403  403  403  403  | 403  403  403  403  | 403  403  403  403  | 403  | 403'),
  'approvalRule.read@platform':       row('ok   ok   ok   ok   ok   | 403  403  403  403  | 403  403  403  403  | 403  403  403  403  | 403  | 403'),
  'approvalRule.write@platform':      row('ok   ok   403  403  403  | 403  403  403  403  | 403  403  403  403  | 403  403  403  403  | 403  | 403'),
  'approvalRule.update@platform':     row('ok   ok   403  403  403  | 404  404  404  404  | 404  404  404  404  | 404  404  404  404  | 404  | 404'),
  // The requests a caller sees anywhere: people see at least their own, a key needs the read scope.
  'approvalRequest.read@caller':      row('ok   ok   ok   ok   ok   | ok   ok   ok   ok   | ok   ok   ok   ok   | ok   ok   403  403  | ok   | ok'),
  // Only the requester cancels: the table's requests are the bootstrap key's.
  'approvalRequest.cancel@requester': row('ok   403  403  403  403  | 403  403  403  403  | 403  403  403  404  | 403  403  403  403  | 403  | 404'),
  // Each id is decided on its own and refused in its result (an unseen id as not found), so the
  // status answers only whether the caller may send decisions at all: a key needs the write scope.
  'approvalRequest.decide@bulk':      row('ok   ok   403  ok   403  | ok   ok   ok   ok   | ok   ok   ok   ok   | 403  ok   403  403  | ok   | ok'),
  // Every organization's disputes at once: the platform's view (an organization's are listed with its id, as dispute.read).
  'dispute.read@platform':            row('ok   ok   ok   ok   ok   | 403  403  403  403  | 403  403  403  403  | 403  403  403  403  | 403  | 403'),
  // Every organization's contracts at once: the platform's view (an organization's are listed with its id, as contract.read).
  'contract.read@platform':           row('ok   ok   ok   ok   ok   | 403  403  403  403  | 403  403  403  403  | 403  403  403  403  | 403  | 403'),
  // Every organization's budgets at once: the platform's view (an organization's are listed with its id, as budget.read).
  'budget.read@platform':             row('ok   ok   ok   ok   ok   | 403  403  403  403  | 403  403  403  403  | 403  403  403  403  | 403  | 403'),
  // An integration named by id: platform roles only (a write needs the write scope); to everyone else it does not exist (404).
  'integration.read@id':              row('ok   ok   ok   ok   ok   | 404  404  404  404  | 404  404  404  404  | 404  404  404  404  | 404  | 404'),
  'integration.write@id':             row('ok   ok   403  ok   403  | 404  404  404  404  | 404  404  404  404  | 404  404  404  404  | 404  | 404'),
};

let stack: TestStack;
let ctx: RouteContext;
let callers: Record<Column, string>;

beforeAll(async () => {
  stack = await startTestStack();
  const catalog = await createCatalog(stack);
  const parent: Tenant = await createTenant(stack, catalog, { label: 'parent' });
  const target: Tenant = await createTenant(stack, catalog, { label: 'target', parentId: parent.id });
  const adminWrite = await createApiKey(stack, { scopes: ['write'], platformRole: 'platform_admin' });
  const adminRead = await createApiKey(stack, { scopes: ['read'], platformRole: 'platform_admin' });
  const financeKey = await createApiKey(stack, { scopes: ['read'], platformRole: 'finance' });
  ctx = { stack, catalog, target, platform: await platformObjects(stack, bearer(adminRead.key)) };
  callers = {
    'bootstrap key': bootstrapAuthorization,
    'platform_admin key (write)': bearer(adminWrite.key),
    'platform_admin key (read)': bearer(adminRead.key),
    'finance JWT': bearer(await signJwt(unique('finance'), 'finance')),
    'finance key (read)': bearer(financeKey.key),
    OWNER: target.people.OWNER.authorization,
    BILLING_ADMIN: target.people.BILLING_ADMIN.authorization,
    ADMIN: target.people.ADMIN.authorization,
    MEMBER: target.people.MEMBER.authorization,
    'parent OWNER': parent.people.OWNER.authorization,
    'parent BILLING_ADMIN': parent.people.BILLING_ADMIN.authorization,
    'parent ADMIN': parent.people.ADMIN.authorization,
    'parent MEMBER': parent.people.MEMBER.authorization,
    'key read': target.keys.read.authorization,
    'key write': target.keys.write.authorization,
    'key usage:write': target.keys['usage:write'].authorization,
    'key seats:verify': target.keys['seats:verify'].authorization,
    'parent key write': parent.keys.write.authorization,
    'stranger JWT': bearer(await signJwt(unique('stranger'))),
  };
});
afterAll(async () => {
  await stack.stop();
});

describe('the expected matrix', () => {
  it('has a row for every action of the policy table (a new action needs its row), and every row is exercised by a route', () => {
    const organizationRows = Object.keys(expected).filter((name) => !name.includes('@'));
    expect(organizationRows.sort()).toEqual(Object.keys(policy).sort());
    const exercised = new Set(routeTable.map((route) => route.matrixRow));
    expect(Object.keys(expected).filter((name) => !exercised.has(name as MatrixRow))).toEqual([]);
  });
});

describe.each(routeTable.map((route) => [route.name, route.matrixRow, route] as const))('%s (%s)', (_, matrixRow, route) => {
  it('answers every caller as the matrix says', async () => {
    const actual = {} as Record<Column, string>;
    for (const column of columns) {
      const response = await send(stack, await buildRequest(route, ctx), callers[column]);
      const body = (await response.json()) as { code?: string };
      if (response.status === route.successStatus) actual[column] = 'ok';
      // A route may refuse, with a code of its own, callers its action's policy lets through (keys never decide).
      else if (response.status === 403 && (body.code === 'forbidden' || body.code === route.refusedBeyondPolicy)) actual[column] = '403';
      else if (response.status === 404 && body.code === route.notFound?.code) actual[column] = '404';
      else actual[column] = `unexpected ${response.status} ${body.code}`;
    }
    expect(actual).toEqual(expected[matrixRow]);
  });
});
