import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startTestStack, type TestStack } from '../support/stack.js';
import { expectProblem } from './support/problems.js';
import { call, unique } from './support/world.js';

let stack: TestStack;
let applicationSlug: string;
let metricCode: string;

beforeAll(async () => {
  stack = await startTestStack();
  applicationSlug = unique('app');
  metricCode = unique('reports');
  await call(stack, 'POST', '/v1/applications', { body: { slug: applicationSlug, name: 'Reports' } });
  await call(stack, 'POST', '/v1/metrics', { body: { code: metricCode, name: 'Reports', aggregation: 'count' } });
});
afterAll(async () => {
  await stack.stop();
});

interface PlanView {
  id: string;
  code: string;
  version: number;
  basePrice: number;
  charges: { metricCode: string; unitPrice?: string; included: number }[];
}

describe('plan versioning', () => {
  it('adds version 2 on edit; the plan answers with 2, and ?version=1 still answers the unchanged version 1', async () => {
    const code = unique('pro');
    const terms = {
      name: 'Pro',
      applicationSlug,
      currency: 'USD',
      interval: 'month',
      basePrice: 4900,
      charges: [{ metricCode, model: 'per_unit', unitPrice: '0.01', included: 100 }],
    };
    const v1 = await call<PlanView>(stack, 'POST', '/v1/plans', { body: { code, ...terms } });
    expect(v1).toMatchObject({ code, version: 1, basePrice: 4900, charges: [{ metricCode, unitPrice: '0.01', included: 100 }] });

    const v2 = await call<PlanView>(stack, 'POST', `/v1/plans/${code}/versions`, {
      body: { ...terms, basePrice: 5900, charges: [{ metricCode, model: 'per_unit', unitPrice: '0.008', included: 200 }] },
    });
    expect(v2).toMatchObject({ code, version: 2, basePrice: 5900, charges: [{ metricCode, unitPrice: '0.008', included: 200 }] });
    expect(v2.id).not.toBe(v1.id);

    expect(await call<PlanView>(stack, 'GET', `/v1/plans/${code}`)).toEqual(v2);
    expect(await call<PlanView>(stack, 'GET', `/v1/plans/${code}?version=1`)).toEqual(v1);
    expect(await call<PlanView>(stack, 'GET', `/v1/plans/${code}?version=2`)).toEqual(v2);
    await expectProblem(await stack.request('GET', `/v1/plans/${code}?version=3`), 404, 'plan_not_found');

    const rows = await stack.sql<{ version: number; base_price: string }>('select version, base_price from plans where code = $1 order by version', [code]);
    expect(rows).toEqual([
      { version: 1, base_price: '4900' },
      { version: 2, base_price: '5900' },
    ]);
  });

  it('refuses a second plan with the same code (409) and a duplicate version in the database', async () => {
    const code = unique('basic');
    const body = { code, name: 'Basic', applicationSlug, currency: 'USD', interval: 'month' };
    await call(stack, 'POST', '/v1/plans', { body });
    await expectProblem(await stack.request('POST', '/v1/plans', { body }), 409, 'plan_code_taken');
    await expect(
      stack.sql(
        `insert into plans (id, code, version, name, application_id, currency, interval, base_price, seat_price, included_seats, trial_days, created_at)
         select gen_random_uuid(), code, version, name, application_id, currency, interval, base_price, seat_price, included_seats, trial_days, now()
         from plans where code = $1`,
        [code],
      ),
    ).rejects.toThrow(/plans_code_version_unique/);
  });

  it('refuses a version whose charges name an unknown metric (422) and writes nothing', async () => {
    const code = unique('team');
    await call(stack, 'POST', '/v1/plans', { body: { code, name: 'Team', applicationSlug, currency: 'USD', interval: 'year' } });
    const response = await stack.request('POST', `/v1/plans/${code}/versions`, {
      body: { name: 'Team', applicationSlug, currency: 'USD', interval: 'year', charges: [{ metricCode: 'no-such-metric', model: 'per_unit', unitPrice: '1' }] },
    });
    await expectProblem(response, 422, 'metric_not_found');
    expect(await stack.sql('select version from plans where code = $1', [code])).toEqual([{ version: 1 }]);
  });
});

interface Node {
  id: string;
  name: string;
  children: Node[];
}

describe('organization hierarchy', () => {
  let root: string;
  let childA: string;
  let childB: string;
  let grandchild: string;

  beforeAll(async () => {
    const create = async (name: string, parentId?: string) =>
      (await call<{ id: string }>(stack, 'POST', '/v1/organizations', { body: { name, currency: 'EUR', ...(parentId ? { parentId } : {}) } })).id;
    root = await create('Holding');
    childA = await create('A Subsidiary', root);
    childB = await create('B Subsidiary', root);
    grandchild = await create('A Branch', childA);
  });

  it('answers the organization and everything below it as a tree', async () => {
    expect(await call<Node>(stack, 'GET', `/v1/organizations/${root}/hierarchy`)).toEqual({
      id: root,
      name: 'Holding',
      children: [
        { id: childA, name: 'A Subsidiary', children: [{ id: grandchild, name: 'A Branch', children: [] }] },
        { id: childB, name: 'B Subsidiary', children: [] },
      ],
    });
    expect(await call<Node>(stack, 'GET', `/v1/organizations/${childA}/hierarchy`)).toEqual({
      id: childA,
      name: 'A Subsidiary',
      children: [{ id: grandchild, name: 'A Branch', children: [] }],
    });
  });

  it('makes a cycle impossible: PostgreSQL refuses to make an organization its own ancestor', async () => {
    await expect(stack.sql('update organizations set parent_id = $1 where id = $2', [grandchild, root])).rejects.toThrow(/own ancestor/);
    await expect(stack.sql('update organizations set parent_id = $1 where id = $2', [grandchild, childA])).rejects.toThrow(/own ancestor/);
    await expect(stack.sql('update organizations set parent_id = id where id = $1', [childB])).rejects.toThrow(/organizations_not_own_parent|own ancestor/);
    const [row] = await stack.sql<{ parent_id: string | null }>('select parent_id from organizations where id = $1', [root]);
    expect(row?.parent_id).toBeNull();
  });

  it('still allows a legitimate move within the tree', async () => {
    await stack.sql('update organizations set parent_id = $1 where id = $2', [childB, grandchild]);
    const tree = await call<Node>(stack, 'GET', `/v1/organizations/${root}/hierarchy`);
    expect(tree.children.find((node) => node.id === childB)?.children.map((node) => node.id)).toEqual([grandchild]);
  });
});
