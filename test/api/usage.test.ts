import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import pg from 'pg';
import { freePort } from '../../scripts/lib/ports.js';
import { aggregateUsage, periodContaining, type MetricDefinition, type UsageEvent } from '../../src/domain/index.js';
import { sharedServer } from '../support/servers.js';
import { startTestStack, testAdminKey, type TestStack } from '../support/stack.js';
import { eventually } from '../workflow/support/subscriptions.js';
import { expectProblem } from './support/problems.js';
import { createCustomer, createMetric, days, iso, perUnit, readUsage, sendBatch, startFor, storedUsage, type Charge, type CustomerOptions, type UsageSummary } from './support/usage.js';
import { bearer, call, createApiKey, unique } from './support/world.js';
import { startLaneServer } from './support/fast-lane.js';
import { writeUsageGuarded, type UsageRow } from '../../src/db/repositories/usage.js';

let stack: TestStack;
let receiver: { url: string; bodies: () => Record<string, unknown>[]; close: () => Promise<void> };

/** A local webhook receiver: every JSON body it was sent. */
async function startReceiver() {
  const bodies: Record<string, unknown>[] = [];
  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      bodies.push(JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>);
      response.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`,
    bodies: () => bodies,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

beforeAll(async () => {
  stack = await startTestStack();
  receiver = await startReceiver();
});
afterAll(async () => {
  await stack.stop();
  await receiver.close();
});

const metric = (aggregation: MetricDefinition['aggregation'], field?: string) => createMetric(stack, aggregation, field);
const customer = (charges: Charge[], options: CustomerOptions = {}) => createCustomer(stack, charges, options);

function post(path: string, body: unknown, authorization?: string) {
  return stack.request('POST', path, { body, ...(authorization ? { headers: { authorization } } : {}) });
}

const batch = (events: unknown[], authorization?: string) => sendBatch(stack, events, authorization);
const usage = (query: string) => readUsage(stack, query);

async function usageOf(subscriptionId: string, metricCode: string, query = ''): Promise<UsageSummary | undefined> {
  return (await usage(`subscriptionId=${subscriptionId}${query}`)).find((summary) => summary.metricCode === metricCode);
}

const storedState = (organizationId: string) => storedUsage(stack, organizationId);

describe('recording usage', () => {
  it('attributes an event without a subscription to the one whose plan charges the metric, by id or external id', async () => {
    const calls = await metric('count');
    const acme = await customer([perUnit(calls)]);
    const response = await post('/v1/usage', { eventId: unique('evt'), metricCode: calls, organizationId: acme.organizationId });
    expect(response.status).toBe(202);
    const accepted = (await response.json()) as Record<string, unknown>;
    expect(accepted).toMatchObject({ duplicate: false, subscriptionId: acme.subscriptionId });
    await batch([{ eventId: unique('evt'), metricCode: calls, externalOrgId: acme.externalId, applicationSlug: acme.applicationSlug, quantity: 5 }]);
    expect(await usageOf(acme.subscriptionId, calls)).toMatchObject({ quantity: '2', events: 2 });
  });

  it('counts a replayed event once, in a single call and in batches', async () => {
    const bytes = await metric('sum');
    const acme = await customer([perUnit(bytes)]);
    const event = { eventId: unique('evt'), metricCode: bytes, organizationId: acme.organizationId, quantity: '2.5' };
    const first = (await (await post('/v1/usage', event)).json()) as { duplicate: boolean };
    const replay = await post('/v1/usage', event);
    expect(replay.status).toBe(202);
    expect([first.duplicate, ((await replay.json()) as { duplicate: boolean }).duplicate]).toEqual([false, true]);
    const others = Array.from({ length: 5 }, () => ({ eventId: unique('evt'), metricCode: bytes, organizationId: acme.organizationId, quantity: 1 }));
    expect(await batch([event, ...others])).toEqual({ accepted: 5, duplicates: 1 });
    expect(await batch([...others, ...others])).toEqual({ accepted: 0, duplicates: 10 });
    expect(await usageOf(acme.subscriptionId, bytes)).toMatchObject({ quantity: '7.5', events: 6 });
    expect(await storedState(acme.organizationId)).toMatchObject({ keys: '6', events: '6' });
  });

  it('counts concurrent duplicates once: 12 racing batches of the same 200 events', async () => {
    const calls = await metric('count');
    const users = await metric('unique_count', 'user');
    const acme = await customer([perUnit(calls), perUnit(users)]);
    const events = Array.from({ length: 100 }, (_, index) => [
      { eventId: `c-${index}`, metricCode: calls, organizationId: acme.organizationId, userId: `u${index % 7}` },
      { eventId: `u-${index}`, metricCode: users, organizationId: acme.organizationId, properties: { user: `u${index % 13}` } },
    ]).flat();
    const results = await Promise.all(Array.from({ length: 12 }, (_, round) => batch(round % 2 ? [...events].reverse() : events)));
    expect(results.reduce((sum, result) => sum + result.accepted, 0)).toBe(200);
    expect(results.every((result) => result.accepted + result.duplicates === 200)).toBe(true);
    expect(await usageOf(acme.subscriptionId, calls)).toMatchObject({ quantity: '100', events: 100 });
    expect(await usageOf(acme.subscriptionId, users)).toMatchObject({ quantity: '13', events: 100 });
    expect(await usageOf(acme.subscriptionId, calls, '&userId=u3')).toMatchObject({ quantity: '14', subscriptionQuantity: '100' });
    expect(await storedState(acme.organizationId)).toMatchObject({ keys: '200', events: '200' });
  });

  it('answers each of many concurrent single events on its own, though they are committed in groups', async () => {
    const calls = await metric('count');
    const acme = await customer([perUnit(calls)]);
    const beta = await customer([perUnit(calls)]);
    const acmeProduct = bearer((await createApiKey(stack, { scopes: ['usage:write'], organizationId: acme.organizationId })).key);
    const event = (organizationId: string) => ({ eventId: unique('evt'), metricCode: calls, organizationId });
    const repeated = event(acme.organizationId);
    const requests: { expected: number; send: () => Promise<Response> }[] = [
      ...Array.from({ length: 12 }, () => ({ expected: 202, send: () => post('/v1/usage', event(acme.organizationId)) })),
      ...Array.from({ length: 8 }, () => ({ expected: 202, send: () => post('/v1/usage', event(beta.organizationId)) })),
      ...Array.from({ length: 5 }, () => ({ expected: 202, send: () => post('/v1/usage', repeated) })),
      { expected: 422, send: () => post('/v1/usage', { ...event(acme.organizationId), metricCode: 'no_such_metric' }) },
      { expected: 404, send: () => post('/v1/usage', event(beta.organizationId), acmeProduct) },
      { expected: 202, send: () => post('/v1/usage', event(acme.organizationId), acmeProduct) },
      {
        expected: 202,
        send: () => stack.request('POST', '/v1/usage', { body: event(beta.organizationId), headers: { 'idempotency-key': unique('key') } }),
      },
    ];
    const responses = await Promise.all(requests.map((request) => request.send()));
    expect(responses.map((response) => response.status)).toEqual(requests.map((request) => request.expected));
    const bodies = (await Promise.all(responses.map((response) => response.json()))) as { duplicate?: boolean; subscriptionId?: string; code?: string }[];
    expect(bodies.slice(20, 25).filter((body) => body.duplicate === false)).toHaveLength(1);
    expect(bodies.slice(0, 12).every((body) => body.duplicate === false && body.subscriptionId === acme.subscriptionId)).toBe(true);
    expect(bodies.slice(12, 20).every((body) => body.duplicate === false && body.subscriptionId === beta.subscriptionId)).toBe(true);
    expect(bodies[25]).toMatchObject({ code: 'metric_not_found' });
    expect(bodies[26]).toMatchObject({ code: 'organization_not_found' });
    expect(await usageOf(acme.subscriptionId, calls)).toMatchObject({ quantity: '14', events: 14 });
    expect(await usageOf(beta.subscriptionId, calls)).toMatchObject({ quantity: '9', events: 9 });
    expect((await storedState(acme.organizationId)).keys).toBe('14');
  });

  it('records a product key’s single event on the fast lane as the app would, and hands everything else to the app', async () => {
    const calls = await metric('count');
    const acme = await customer([perUnit(calls)]);
    const key = `Bearer ${(await createApiKey(stack, { scopes: ['usage:write'], organizationId: acme.organizationId })).key}`;
    const lane = await startLaneServer(stack);
    const event = () => ({ eventId: unique('evt'), metricCode: calls, organizationId: acme.organizationId });
    try {
      // A key never used yet: the app records its use, after which the lane takes its events.
      const first = event();
      const byApp = (await (await lane.post('/v1/usage', first, key)).json()) as Record<string, unknown>;
      expect(byApp).toMatchObject({ eventId: first.eventId, duplicate: false, subscriptionId: acme.subscriptionId });
      expect(lane.handedToApp()).toBe(1);
      const second = event();
      const laned = await lane.post('/v1/usage', second, key, { 'x-request-id': 'lane-usage-1' });
      expect(laned.status).toBe(202);
      expect(laned.headers.get('x-request-id')).toBe('lane-usage-1');
      expect(laned.headers.get('content-type')).toBe('application/json');
      expect(await laned.json()).toEqual({ ...byApp, eventId: second.eventId });
      const replay = await lane.post('/v1/usage', second, key);
      expect(await replay.json()).toEqual({ eventId: second.eventId, duplicate: true });
      expect(lane.handedToApp()).toBe(1);

      // Everything else is the app's, with the body the lane read: an Idempotency-Key, a bad
      // body, and an event the lane could not record (the app records it no more than the lane).
      expect((await lane.post('/v1/usage', event(), key, { 'idempotency-key': unique('key') })).status).toBe(202);
      const invalid = await lane.post('/v1/usage', { ...event(), quantity: -1 }, key);
      expect(invalid.headers.get('content-type')).toContain('application/problem+json');
      await expectProblem(invalid, 400, 'validation_failed');
      await expectProblem(await lane.post('/v1/usage', { ...event(), metricCode: 'no_such_metric' }, key), 422, 'metric_not_found');
      expect(lane.handedToApp()).toBe(4);
      expect(await usageOf(acme.subscriptionId, calls)).toMatchObject({ quantity: '3', events: 3 });
    } finally {
      await lane.close();
    }
  });

  it('records a single event against its subscription as it is when written: a closing committed in between refuses it', async () => {
    const calls = await metric('count');
    const startAt = startFor(5, 1);
    const acme = await customer([perUnit(calls)], { startAt });
    const closed = periodContaining({ interval: 'month', anchor: startAt }, startAt);
    // A billing closing holds the subscription row while the event is read and written.
    const closing = new pg.Client({ connectionString: stack.databaseUrl });
    await closing.connect();
    try {
      await closing.query('begin');
      await closing.query('update subscriptions set usage_closed_through = $2 where id = $1', [acme.subscriptionId, `${closed.end}T00:00:00Z`]);
      const late = post('/v1/usage', { eventId: unique('evt'), metricCode: calls, organizationId: acme.organizationId, timestamp: `${startAt}T11:00:00.000Z` });
      // The event's write waits for the closing's lock on the subscription.
      await eventually(async () => {
        const [waiting] = await stack.sql<{ count: string }>(
          `select count(*) from pg_stat_activity where wait_event_type = 'Lock' and query like '%usage_event_keys%'`,
        );
        return waiting?.count === '1' ? true : undefined;
      });
      await closing.query('commit');
      await expectProblem(await late, 409, 'usage_period_closed');
    } finally {
      await closing.end();
    }
    expect((await storedState(acme.organizationId)).keys).toBe('0');
  });

  it('takes events out of order: each lands in its own period, and latest keeps the greatest timestamp', async () => {
    const storage = await metric('latest', 'gb');
    const peak = await metric('max', 'cpus');
    const now = Date.now();
    const startAt = startFor(10, 3);
    // The subscription starts three periods back, so its billing cycle closes them at once; the
    // account's row, held as a closing holds it, keeps them open while the events arrive.
    const closing = new pg.Client({ connectionString: stack.databaseUrl });
    await closing.connect();
    const holdClosing = async (organizationId: string) => {
      await closing.query('begin');
      await closing.query('select id from organizations where id = $1 for no key update', [organizationId]);
    };
    try {
      const acme = await customer([perUnit(storage), perUnit(peak)], { startAt, beforeSubscribing: holdClosing });
      const at = (ago: number) => iso(now - days(ago));
      await batch([
        { eventId: 'e3', metricCode: storage, organizationId: acme.organizationId, timestamp: at(1), properties: { gb: 30 } },
        { eventId: 'e1', metricCode: storage, organizationId: acme.organizationId, timestamp: at(3), properties: { gb: 99 } },
      ]);
      await batch([{ eventId: 'e2', metricCode: storage, organizationId: acme.organizationId, timestamp: at(2), properties: { gb: 50 } }]);
      await batch([{ eventId: 'old', metricCode: storage, organizationId: acme.organizationId, timestamp: at(70), properties: { gb: 7 } }]);
      await batch([
        { eventId: 'p2', metricCode: peak, organizationId: acme.organizationId, timestamp: at(1), properties: { cpus: 4 } },
        { eventId: 'p1', metricCode: peak, organizationId: acme.organizationId, timestamp: at(2), properties: { cpus: 16 } },
      ]);
      // A tie on the timestamp goes to the greater eventId, whichever arrives first.
      const tie = at(0.5);
      await batch([{ eventId: 'e9', metricCode: storage, organizationId: acme.organizationId, timestamp: tie, properties: { gb: 9 } }]);
      await batch([{ eventId: 'e8', metricCode: storage, organizationId: acme.organizationId, timestamp: tie, properties: { gb: 8 } }]);

      const all = await usage(`subscriptionId=${acme.subscriptionId}&from=${startAt}&to=${iso(now + 1000)}`);
      const calendar = { interval: 'month' as const, anchor: startAt };
      const current = periodContaining(calendar, at(0).slice(0, 10));
      const older = periodContaining(calendar, at(70).slice(0, 10));
      expect(older.start < current.start).toBe(true);
      const summary = (code: string, start: string) => all.find((item) => item.metricCode === code && item.periodStart.startsWith(start));
      expect(summary(storage, older.start)).toMatchObject({ quantity: '7', events: 1 });
      expect(summary(storage, current.start)).toMatchObject({ quantity: '9', events: 5 });
      expect(summary(peak, current.start)).toMatchObject({ quantity: '16', events: 2 });
    } finally {
      await closing.end();
    }
  });

  it('aggregates exactly as the domain does, for every aggregation, user and department, whatever the order and repeats', async () => {
    const metrics: MetricDefinition[] = [
      { code: await metric('count'), aggregation: 'count' },
      { code: await metric('sum'), aggregation: 'sum' },
      { code: await metric('sum', 'bytes'), aggregation: 'sum', field: 'bytes' },
      { code: await metric('max', 'cpus'), aggregation: 'max', field: 'cpus' },
      { code: await metric('unique_count', 'visitor'), aggregation: 'unique_count', field: 'visitor' },
      { code: await metric('latest', 'gauge'), aggregation: 'latest', field: 'gauge' },
    ];
    const acme = await customer(metrics.map((definition) => perUnit(definition.code)));
    const otherDepartment = (await call<{ id: string }>(stack, 'POST', `/v1/organizations/${acme.organizationId}/departments`, { body: { name: unique('dept') } })).id;
    const now = Date.now();
    let seed = 7;
    const random = (limit: number) => {
      seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
      return seed % limit;
    };
    const startOfDay = Date.parse(`${iso(now).slice(0, 10)}T00:00:00Z`);
    const events: UsageEvent[] = Array.from({ length: 600 }, (_, index) => {
      const definition = metrics[random(metrics.length)]!;
      const departmentId = [undefined, acme.departmentId, otherDepartment][random(3)];
      const userId = [undefined, 'ann', 'bob', 'cy'][random(4)];
      return {
        eventId: `evt-${index}`,
        metricCode: definition.code,
        timestamp: iso(startOfDay + random(Math.max(1, now - startOfDay))),
        quantity: String(random(1000) / 100),
        subscriptionId: acme.subscriptionId,
        ...(userId ? { userId } : {}),
        ...(departmentId ? { departmentId } : {}),
        ...(random(10) === 0 ? {} : { properties: { bytes: random(5000), cpus: random(64), visitor: `v${random(40)}`, gauge: random(900) / 10 } }),
      };
    });
    const shuffled = [...events, ...events.slice(0, 150)].sort(() => random(3) - 1);
    for (let offset = 0; offset < shuffled.length; offset += 250) {
      await batch(shuffled.slice(offset, offset + 250).map((event) => ({ ...event, organizationId: acme.organizationId })));
    }
    const period = { periodStart: iso(startOfDay - days(40)), periodEnd: iso(now + days(40)) };
    const check = async (filter: Partial<Record<'userId' | 'departmentId', string>>, query: string) => {
      const selected = events.filter((event) => Object.entries(filter).every(([key, value]) => event[key as 'userId'] === value));
      const expected = aggregateUsage(selected, { metrics, ...period });
      const actual = await usage(`subscriptionId=${acme.subscriptionId}${query}`);
      for (const definition of metrics) {
        const want = expected.find((aggregate) => aggregate.metricCode === definition.code);
        expect({ metric: definition.aggregation, quantity: actual.find((summary) => summary.metricCode === definition.code)?.quantity }).toEqual({
          metric: definition.aggregation,
          quantity: want?.value ?? '0',
        });
      }
    };
    await check({}, '');
    await check({ userId: 'ann' }, '&userId=ann');
    await check({ departmentId: otherDepartment }, `&departmentId=${otherDepartment}`);
    await check({ userId: 'bob', departmentId: acme.departmentId }, `&userId=bob&departmentId=${acme.departmentId}`);
  });
});

describe('refusals', () => {
  it('refuses a batch with one bad event whole, naming the event by index, and records nothing', async () => {
    const calls = await metric('count');
    const acme = await customer([perUnit(calls)]);
    const good = Array.from({ length: 4 }, () => ({ eventId: unique('evt'), metricCode: calls, organizationId: acme.organizationId }));
    const before = await storedState(acme.organizationId);

    const invalid = await expectProblem(await post('/v1/usage/batch', { events: [...good.slice(0, 2), { ...good[2], quantity: -1 }, good[3]] }), 400, 'validation_failed');
    expect(new Set(invalid.errors?.map((error) => error.field))).toEqual(new Set(['events.2.quantity']));
    const unknown = await expectProblem(await post('/v1/usage/batch', { events: [good[0], { ...good[1], metricCode: 'no-such-metric' }, ...good.slice(2)] }), 422, 'metric_not_found');
    expect(unknown.errors).toEqual([{ field: 'events.1.metricCode', message: 'No metric "no-such-metric".' }]);
    const mixed = await expectProblem(
      await post('/v1/usage/batch', { events: [{ ...good[0], departmentId: '00000000-0000-4000-8000-000000000000' }, { ...good[1], metricCode: 'nope' }, good[2]] }),
      422,
      'usage_events_invalid',
    );
    expect(mixed.errors?.map((error) => error.field)).toEqual(['events.0.departmentId', 'events.1.metricCode']);
    expect(await storedState(acme.organizationId)).toEqual(before);

    expect(await batch(good)).toEqual({ accepted: 4, duplicates: 0 });
  });

  it('bounds properties (4,096 bytes, 50 keys, 128-character keys, 5 levels) and refuses NUL or a lone surrogate in them, on the fast lane, the app and in batches alike', async () => {
    const calls = await metric('count');
    const acme = await customer([perUnit(calls)]);
    const key = bearer((await createApiKey(stack, { scopes: ['usage:write'], organizationId: acme.organizationId })).key);
    const lane = await startLaneServer(stack);
    const event = (properties: unknown) => ({ eventId: unique('evt'), metricCode: calls, organizationId: acme.organizationId, properties });
    const keys = (count: number) => Object.fromEntries(Array.from({ length: count }, (_, index) => [`k${index}`, index]));
    const atBounds = [{ blob: 'x'.repeat(4_085) }, keys(50), { ['k'.repeat(128)]: 1 }, { a: [[[[1]]]] }, { a: { b: { c: { d: 'é\t\u202e' } } } }];
    const beyond: [unknown, string][] = [
      [{ blob: 'x'.repeat(4_086) }, 'properties'],
      [{ blob: 'é'.repeat(2_043) }, 'properties'],
      [keys(51), 'properties'],
      [{ a: keys(51) }, 'properties.a'],
      [{ ['k'.repeat(129)]: 1 }, 'properties'],
      [{ a: [[[[[1]]]]] }, 'properties'],
      [{ a: { b: 'x\u0000' } }, 'properties.a.b'],
      [{ a: ['ok', '\ud800'] }, 'properties.a.1'],
      [{ 'a\u0000': 1 }, 'properties'],
      [{ a: { '\udc00': 1 } }, 'properties.a'],
    ];
    try {
      // The key's first use goes to the app; after it the lane takes the key's valid events.
      expect((await lane.post('/v1/usage', event({}), key)).status).toBe(202);
      const before = await storedState(acme.organizationId);
      for (const [properties, field] of beyond) {
        for (const response of [await lane.post('/v1/usage', event(properties), key), await post('/v1/usage', event(properties))]) {
          const problem = await expectProblem(response, 400, 'validation_failed');
          expect([properties, problem.errors?.map((error) => error.field)]).toEqual([properties, [field]]);
        }
        const batched = await expectProblem(await post('/v1/usage/batch', { events: [event({}), event(properties)] }), 400, 'validation_failed');
        expect([properties, batched.errors?.map((error) => error.field)]).toEqual([properties, [`events.1.${field}`]]);
      }
      expect(await storedState(acme.organizationId)).toEqual(before);
      const handed = lane.handedToApp();

      const accepted = atBounds.map(event);
      for (const sent of accepted.slice(0, 2)) expect((await lane.post('/v1/usage', sent, key)).status).toBe(202);
      expect(lane.handedToApp()).toBe(handed);
      expect(await batch(accepted.slice(2))).toEqual({ accepted: 3, duplicates: 0 });
      const stored = await stack.sql<{ eventId: string; properties: unknown }>('select event_id as "eventId", properties from usage_events where event_id = any($1)', [accepted.map((sent) => sent.eventId)]);
      expect(new Map(stored.map((row) => [row.eventId, row.properties]))).toEqual(new Map(accepted.map((sent) => [sent.eventId, sent.properties])));
    } finally {
      await lane.close();
    }
  });

  it('answers an unknown organization, metric or department with a clear 4xx', async () => {
    const calls = await metric('count');
    const acme = await customer([perUnit(calls)]);
    const event = { eventId: unique('evt'), metricCode: calls, organizationId: acme.organizationId };
    await expectProblem(await post('/v1/usage', { ...event, organizationId: '00000000-0000-4000-8000-000000000000' }), 404, 'organization_not_found');
    await expectProblem(await post('/v1/usage', { ...event, organizationId: undefined, externalOrgId: 'nobody', applicationSlug: acme.applicationSlug }), 404, 'organization_not_found');
    await expectProblem(await post('/v1/usage', { ...event, metricCode: 'unknown-metric' }), 422, 'metric_not_found');
    await expectProblem(await post('/v1/usage', { ...event, departmentId: '00000000-0000-4000-8000-000000000000' }), 422, 'department_not_found');
    const uncharged = await metric('count');
    await expectProblem(await post('/v1/usage', { ...event, metricCode: uncharged }), 422, 'no_subscription_for_metric');
    await expectProblem(await post('/v1/usage', { ...event, timestamp: iso(Date.now() + days(1)) }), 422, 'timestamp_out_of_range');
    await expectProblem(await post('/v1/usage', { ...event, timestamp: iso(Date.now() - days(400)) }), 422, 'timestamp_out_of_range');
    expect((await storedState(acme.organizationId)).keys).toBe('0');
  });

  it('refuses usage for an invoiced period with 409 naming it, but still accepts a replay of an event recorded before', async () => {
    const calls = await metric('count');
    const now = Date.now();
    const startAt = startFor(5, 1);
    const acme = await customer([perUnit(calls)], { startAt });
    const early = { eventId: unique('evt'), metricCode: calls, organizationId: acme.organizationId, timestamp: `${startAt}T10:00:00.000Z` };
    await batch([early]);
    const closed = periodContaining({ interval: 'month', anchor: startAt }, startAt);
    await stack.sql('update subscriptions set usage_closed_through = $2 where id = $1', [acme.subscriptionId, `${closed.end}T00:00:00Z`]);

    const late = await expectProblem(await post('/v1/usage', { ...early, eventId: unique('evt'), timestamp: `${startAt}T11:00:00.000Z` }), 409, 'usage_period_closed');
    expect(late.details).toEqual({
      subscriptionId: acme.subscriptionId,
      periodStart: `${closed.start}T00:00:00.000Z`,
      periodEnd: `${closed.end}T00:00:00.000Z`,
      closedThrough: `${closed.end}T00:00:00.000Z`,
    });
    expect(late.detail).toContain(`${closed.start} to ${closed.end}`);
    const replay = await post('/v1/usage', early);
    expect(replay.status).toBe(202);
    expect(((await replay.json()) as { duplicate: boolean }).duplicate).toBe(true);
    expect(await batch([{ ...early, eventId: unique('evt'), timestamp: iso(now) }])).toEqual({ accepted: 1, duplicates: 0 });
  });

  it('refuses events beyond a hard limit with 429, counts none of them, and cannot be overshot by racing requests', async () => {
    const calls = await metric('count');
    const acme = await customer([perUnit(calls, { hardLimit: 10 })]);
    const event = () => ({ eventId: unique('evt'), metricCode: calls, organizationId: acme.organizationId });
    expect(await batch(Array.from({ length: 8 }, event))).toEqual({ accepted: 8, duplicates: 0 });
    const over = await expectProblem(await post('/v1/usage/batch', { events: Array.from({ length: 3 }, event) }), 429, 'usage_limit_exceeded');
    expect(over.details).toMatchObject({ metricCode: calls, limit: 10, currentUsage: '8', requestedUsage: '11', subscriptionId: acme.subscriptionId });
    expect(await usageOf(acme.subscriptionId, calls)).toMatchObject({ quantity: '8', hardLimit: 10 });

    const racing = await Promise.all(Array.from({ length: 10 }, () => post('/v1/usage', event())));
    expect(racing.filter((response) => response.status === 202)).toHaveLength(2);
    expect(racing.filter((response) => response.status === 429)).toHaveLength(8);
    expect(await usageOf(acme.subscriptionId, calls)).toMatchObject({ quantity: '10' });
    expect((await storedState(acme.organizationId)).keys).toBe('10');
  });
});

describe('quotas and alerts', () => {
  it('gives a pooled quota once and a per-seat quota per seat, following seat changes mid-period', async () => {
    const pooled = await metric('count');
    const perSeat = await metric('count');
    const acme = await customer([perUnit(pooled, { included: 1000 }), perUnit(perSeat, { included: 100, allocation: 'per_seat' })], { seats: 5 });
    await batch(Array.from({ length: 300 }, (_, index) => ({ eventId: `s-${index}`, metricCode: index % 2 ? pooled : perSeat, organizationId: acme.organizationId })));
    expect(await usageOf(acme.subscriptionId, pooled)).toMatchObject({ quantity: '150', included: 1000, overage: '0', thresholdsReached: [] });
    expect(await usageOf(acme.subscriptionId, perSeat)).toMatchObject({ quantity: '150', included: 500, overage: '0', thresholdsReached: [] });

    await call(stack, 'POST', `/v1/subscriptions/${acme.subscriptionId}/seats`, { body: { seats: 2 }, expect: 200 });
    expect(await usageOf(acme.subscriptionId, pooled)).toMatchObject({ included: 1000, overage: '0' });
    expect(await usageOf(acme.subscriptionId, perSeat)).toMatchObject({ included: 200, overage: '0', thresholdsReached: [50] });
    await batch(Array.from({ length: 60 }, (_, index) => ({ eventId: `t-${index}`, metricCode: perSeat, organizationId: acme.organizationId })));
    expect(await usageOf(acme.subscriptionId, perSeat)).toMatchObject({ quantity: '210', included: 200, overage: '10', thresholdsReached: [50, 80, 100] });

    await call(stack, 'POST', `/v1/subscriptions/${acme.subscriptionId}/seats`, { body: { seats: 8 }, expect: 200 });
    expect(await usageOf(acme.subscriptionId, perSeat)).toMatchObject({ quantity: '210', included: 800, overage: '0' });
    const thresholds = await stack.sql<{ threshold: number }>(
      `select threshold from usage_threshold_crossings c join metrics m on m.id = c.metric_id where subscription_id = $1 and m.code = $2 order by threshold`,
      [acme.subscriptionId, perSeat],
    );
    // Reached under two seats, recorded once; more seats later do not take an alert back.
    expect(thresholds.map((row) => row.threshold)).toEqual([50, 80, 100]);
  });

  it('raises each threshold once per period, delivers it to the organization’s endpoints, also when racing batches cross it', async () => {
    const reports = await metric('count');
    const acme = await customer([perUnit(reports, { included: 100 })]);
    await call(stack, 'POST', '/v1/webhook-endpoints', { body: { url: receiver.url, events: ['usage.threshold_reached'], organizationId: acme.organizationId } });
    const send = (count: number, prefix: string) =>
      batch(Array.from({ length: count }, (_, index) => ({ eventId: `${prefix}-${index}`, metricCode: reports, organizationId: acme.organizationId })));
    await send(49, 'a');
    await Promise.all([send(10, 'b'), send(10, 'c'), send(10, 'd')]);
    await send(2, 'e');
    await Promise.all(Array.from({ length: 6 }, (_, round) => send(5, `f${round}`)));
    await send(40, 'g');
    const recorded = await stack.sql<{ threshold: number; quantity: string; webhook_event_id: string | null }>(
      'select threshold, quantity::text as quantity, webhook_event_id from usage_threshold_crossings where subscription_id = $1 order by threshold',
      [acme.subscriptionId],
    );
    expect(recorded.map((row) => row.threshold)).toEqual([50, 80, 100]);
    expect(recorded.every((row) => row.webhook_event_id !== null)).toBe(true);
    const events = await stack.sql<{ type: string; payload: { threshold: number; quota: number; subscriptionId: string } }>(
      `select type, payload from webhook_events where organization_id = $1 and type like 'usage.%' order by payload->>'threshold'`,
      [acme.organizationId],
    );
    expect(events.map((event) => [event.type, event.payload.threshold, event.payload.quota])).toEqual([
      ['usage.threshold_reached', 100, 100],
      ['usage.threshold_reached', 50, 100],
      ['usage.threshold_reached', 80, 100],
    ]);
    const delivered = await eventually(async () => {
      const mine = receiver.bodies().filter((body) => (body.data as { subscriptionId?: string } | undefined)?.subscriptionId === acme.subscriptionId);
      return mine.length >= 3 ? mine : undefined;
    }, 30_000);
    expect(delivered.map((body) => (body.data as { threshold: number }).threshold).sort()).toEqual([100, 50, 80]);
    expect(delivered.every((body) => body.type === 'usage.threshold_reached')).toBe(true);
  });
});

describe('reading usage', () => {
  it('filters by user, department, period and organization, from the aggregates', async () => {
    const calls = await metric('count');
    const idle = await metric('sum');
    const now = Date.now();
    const startAt = startFor(5, 1);
    const acme = await customer([perUnit(calls, { included: 10 }), perUnit(idle)], { startAt });
    await batch([
      { eventId: 'a', metricCode: calls, organizationId: acme.organizationId, userId: 'ann', departmentId: acme.departmentId },
      { eventId: 'b', metricCode: calls, organizationId: acme.organizationId, userId: 'ann' },
      { eventId: 'c', metricCode: calls, organizationId: acme.organizationId, userId: 'bob', departmentId: acme.departmentId },
      { eventId: 'd', metricCode: calls, organizationId: acme.organizationId, timestamp: `${startAt}T12:00:00Z` },
    ]);
    const current = await usageOf(acme.subscriptionId, calls);
    expect(current).toMatchObject({ quantity: '3', subscriptionQuantity: '3', included: 10, overage: '0' });
    expect(await usageOf(acme.subscriptionId, calls, '&userId=ann')).toMatchObject({ quantity: '2', events: 2, subscriptionQuantity: '3' });
    expect(await usageOf(acme.subscriptionId, calls, `&departmentId=${acme.departmentId}`)).toMatchObject({ quantity: '2' });
    expect(await usageOf(acme.subscriptionId, calls, `&userId=ann&departmentId=${acme.departmentId}`)).toMatchObject({ quantity: '1' });
    expect(await usageOf(acme.subscriptionId, calls, '&userId=nobody')).toMatchObject({ quantity: '0', events: 0 });
    // A charged metric without usage is listed in the current period, at zero.
    expect(await usageOf(acme.subscriptionId, idle)).toMatchObject({ quantity: '0', included: 0 });

    const history = await usage(`subscriptionId=${acme.subscriptionId}&from=${startAt}&to=${iso(now + 1000)}`);
    expect(history.filter((summary) => summary.metricCode === calls).map((summary) => summary.quantity)).toEqual(['1', '3']);
    const byOrganization = await usage(`organizationId=${acme.organizationId}`);
    expect(byOrganization.find((summary) => summary.metricCode === calls)).toEqual(current);
    await expectProblem(await stack.request('GET', '/v1/usage'), 400, 'validation_failed');
    await expectProblem(await stack.request('GET', `/v1/usage?subscriptionId=${acme.subscriptionId}&from=${iso(now)}&to=${iso(now - 1000)}`), 400, 'validation_failed');
  });

  it('lets a product key with only usage:write record usage but read nothing', async () => {
    const calls = await metric('count');
    const acme = await customer([perUnit(calls)]);
    const product = bearer((await createApiKey(stack, { scopes: ['usage:write'], organizationId: acme.organizationId })).key);
    expect(await batch([{ eventId: unique('evt'), metricCode: calls, organizationId: acme.organizationId }], product)).toEqual({ accepted: 1, duplicates: 0 });
    for (const path of [`/v1/usage?subscriptionId=${acme.subscriptionId}`, `/v1/organizations/${acme.organizationId}`, `/v1/subscriptions/${acme.subscriptionId}`]) {
      await expectProblem(await stack.request('GET', path, { headers: { authorization: product } }), 403, 'forbidden');
    }
    const other = await customer([perUnit(calls)]);
    await expectProblem(await post('/v1/usage', { eventId: unique('evt'), metricCode: calls, organizationId: other.organizationId }, product), 404, 'organization_not_found');
  });
});

describe('a process killed mid-batch', () => {
  it('leaves nothing half-written, and the batch sent again is counted once', async () => {
    const calls = await metric('count');
    const acme = await customer([perUnit(calls)]);
    await batch([{ eventId: 'before', metricCode: calls, organizationId: acme.organizationId }]);
    const before = await storedState(acme.organizationId);

    // The real API entrypoint, in a process of its own, on this suite's database.
    const port = await freePort();
    const api = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
      cwd: fileURLToPath(new URL('../..', import.meta.url)),
      env: {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? '',
        PORT: String(port),
        DATABASE_URL: stack.databaseUrl,
        TEMPORAL_ADDRESS: sharedServer('temporalAddress'),
        TEMPORAL_TASK_QUEUE: stack.taskQueue,
        LEDGERFLOW_ADMIN_KEY: testAdminKey,
        LOG_LEVEL: 'silent',
      },
      stdio: 'ignore',
    });
    const exited = new Promise((resolve) => api.once('exit', resolve));
    const blocker = new pg.Client({ connectionString: stack.databaseUrl });
    try {
      await eventually(async () => ((await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => undefined))?.ok ? true : undefined), 30_000);
      // Hold the period's total, so the batch stops inside its transaction, its keys and events already written.
      await blocker.connect();
      await blocker.query('begin');
      await blocker.query(`select 1 from usage_aggregates where subscription_id = $1 and scope = 'total' for update`, [acme.subscriptionId]);
      const events = Array.from({ length: 500 }, (_, index) => ({ eventId: `killed-${index}`, metricCode: calls, organizationId: acme.organizationId, userId: `u${index % 9}` }));
      const lost = fetch(`http://127.0.0.1:${port}/v1/usage/batch`, {
        method: 'POST',
        headers: { authorization: `Bearer ${testAdminKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({ events }),
      }).catch(() => 'connection lost');
      const waiting = `select pid from pg_stat_activity
        where datname = current_database() and state = 'active' and query like '%insert into usage_event_keys%' and pid <> pg_backend_pid()`;
      await eventually(async () => ((await stack.sql(`${waiting} and wait_event_type = 'Lock'`)).length ? true : undefined), 30_000);

      api.kill('SIGKILL');
      await exited;
      expect(await lost).toBe('connection lost');
      await blocker.query('rollback');
      // PostgreSQL rolls back the dead client's transaction when it finds the connection gone.
      await eventually(async () => ((await stack.sql(waiting)).length === 0 ? true : undefined), 30_000);
      expect(await storedState(acme.organizationId)).toEqual(before);

      expect(await batch(events)).toEqual({ accepted: 500, duplicates: 0 });
      expect(await batch(events)).toEqual({ accepted: 0, duplicates: 500 });
      expect(await usageOf(acme.subscriptionId, calls)).toMatchObject({ quantity: '501', events: 501 });
    } finally {
      api.kill('SIGKILL');
      await blocker.end().catch(() => undefined);
    }
  });
});

describe('the guarded write', () => {
  it('writes nothing when a subscription changed since it was read, and writes once the version read is current', async () => {
    const calls = await metric('count');
    const acme = await customer([perUnit(calls)]);
    // The subscription's workflow writes its row: wait for it.
    const facts = await eventually(async () => {
      const [found] = await stack.sql<{ metricId: string; periodStart: Date; periodEnd: Date }>(
        `select m.id as "metricId", s.current_period_start as "periodStart", s.current_period_end as "periodEnd"
         from subscriptions s, metrics m where s.id = $1 and m.code = $2`,
        [acme.subscriptionId, calls],
      );
      return found;
    });
    const row: UsageRow = {
      organizationId: acme.organizationId,
      eventId: unique('guarded'),
      occurredAt: new Date().toISOString(),
      subscriptionId: acme.subscriptionId,
      metricId: facts.metricId,
      aggregation: 'count',
      periodStart: facts.periodStart.toISOString(),
      periodEnd: facts.periodEnd.toISOString(),
      userId: null,
      departmentId: null,
      quantity: '1',
      value: '1',
      distinctKey: null,
      properties: null,
    };
    const versionOf = async () => (await stack.sql<{ id: string; version: string }>('select id, xmin::text as version from subscriptions where id = $1', [acme.subscriptionId]))[0]!;
    const pool = new pg.Pool({ connectionString: stack.databaseUrl, max: 1 });
    try {
      const read = await versionOf();
      // A closing, a seat change, anything that writes the row: its version moves on.
      await stack.sql('update subscriptions set updated_at = now() where id = $1', [acme.subscriptionId]);
      expect(await writeUsageGuarded(pool, [row], new Date(), [read])).toBe('stale');
      expect(await storedState(acme.organizationId)).toMatchObject({ keys: '0', events: '0' });

      // The subscription's workflow may write the row meanwhile too: a writer that finds it stale reads again.
      const writeCurrent = async () => {
        for (let attempt = 0; ; attempt += 1) {
          const written = await writeUsageGuarded(pool, [row], new Date(), [await versionOf()]);
          if (written !== 'stale' || attempt === 20) return written;
        }
      };
      expect(await writeCurrent()).toMatchObject({ accepted: 1 });
      expect(await writeCurrent()).toMatchObject({ accepted: 0 });
      expect(await usageOf(acme.subscriptionId, calls)).toMatchObject({ quantity: '1', events: 1 });
    } finally {
      await pool.end();
    }
  });
});
