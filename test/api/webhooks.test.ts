import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { WorkflowNotFoundError } from '@temporalio/client';
import { Webhook } from 'standardwebhooks';
import { ensureSchedules, type ScheduleDefinition } from '../../src/temporal/schedules.js';
import { workflowIds } from '../../src/temporal/workflow-ids.js';
import { dispatchWebhookEvents, recordWebhookEvent } from '../../src/webhooks/outbox.js';
import { systemHostResolver, type HostResolver } from '../../src/webhooks/targets.js';
import type { webhookDispatchSweep } from '../../workflows/webhook-delivery.js';
import { startTestStack, type TestStack } from '../support/stack.js';
import { eventually } from '../workflow/support/subscriptions.js';
import { expectProblem } from './support/problems.js';
import { call, createCatalog, createTenant, type Catalog, type Tenant } from './support/world.js';

/** What the receiver got: one HTTP request. */
interface Received {
  path: string;
  headers: Record<string, string>;
  body: string;
}

/** A local webhook receiver; a path answers 503 as many times as `failFirst` says, then 204, or always 302 once `redirect`ed. */
interface Receiver {
  url(path: string): string;
  received(path: string): Received[];
  failFirst(path: string, times: number): void;
  redirect(path: string, location: string): void;
  close(): Promise<void>;
}

async function startReceiver(): Promise<Receiver> {
  const received: Received[] = [];
  const failuresLeft = new Map<string, number>();
  const redirects = new Map<string, string>();
  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const path = request.url ?? '/';
      received.push({ path, headers: request.headers as Record<string, string>, body: Buffer.concat(chunks).toString('utf8') });
      const left = failuresLeft.get(path) ?? 0;
      const location = redirects.get(path);
      if (location) {
        response.writeHead(302, { location }).end();
      } else if (left > 0) {
        failuresLeft.set(path, left - 1);
        response.writeHead(503).end('try again later');
      } else {
        response.writeHead(204).end();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url: (path) => `${base}${path}`,
    received: (path) => received.filter((request) => request.path === path),
    failFirst: (path, times) => void failuresLeft.set(path, times),
    redirect: (path, location) => void redirects.set(path, location),
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

interface DeliveryView {
  id: string;
  eventId: string;
  eventType: string;
  status: 'pending' | 'succeeded' | 'failed';
  attempts: number;
  lastResponseStatus: number | null;
  lastError: string | null;
  createdAt: string;
  lastAttemptAt: string | null;
  completedAt: string | null;
}

interface Endpoint {
  id: string;
  secret: string;
  path: string;
}

// Milliseconds instead of the production 10 s … 1 h, so retries and give-ups happen within a test.
const retry = { initialIntervalMs: 50, backoffCoefficient: 2, maximumIntervalMs: 200, maximumAttempts: 4 };

let stack: TestStack;
let receiver: Receiver;
let catalog: Catalog;
let a: Tenant;
let b: Tenant;

/** What the next lookups of a name answer, one entry per lookup; other names go to the system resolver. */
const answers = new Map<string, string[]>();
const resolveHost: HostResolver = async (hostname) => {
  const next = answers.get(hostname);
  if (!next) return systemHostResolver(hostname);
  const address = next.length > 1 ? next.shift()! : next[0]!;
  return [{ address, family: 4 }];
};

beforeAll(async () => {
  // Development rules (the harness's default): receivers listen on 127.0.0.1.
  stack = await startTestStack({ webhookRetry: retry, webhookTargets: { resolveHost } });
  receiver = await startReceiver();
  catalog = await createCatalog(stack);
  a = await createTenant(stack, catalog, { label: 'hooks-a' });
  b = await createTenant(stack, catalog, { label: 'hooks-b' });
});
afterAll(async () => {
  await stack?.stop();
  await receiver?.close();
});

async function createEndpoint(organizationId: string | null, events: string[]): Promise<Endpoint> {
  const path = `/${randomUUID()}`;
  const created = await call<{ id: string; secret: string }>(stack, 'POST', '/v1/webhook-endpoints', {
    body: { url: receiver.url(path), events, ...(organizationId ? { organizationId } : {}) },
  });
  return { id: created.id, secret: created.secret, path };
}

async function createOrganization(parentId?: string): Promise<string> {
  const created = await call<{ id: string }>(stack, 'POST', '/v1/organizations', {
    // Sent invoices: a subscription's first invoice must not turn it past due (no card) mid-test.
    body: { name: `org-${randomUUID()}`, currency: 'USD', paymentTerms: 'send_invoice', netTermsDays: 30, ...(parentId ? { parentId } : {}) },
  });
  return created.id;
}

/** Records an event the way the billing code does: in a transaction, then dispatches it after the commit. */
async function recordAndDispatch(event: Parameters<typeof recordWebhookEvent>[1]): Promise<string> {
  const id = await stack.orm.em.fork().transactional((em) => recordWebhookEvent(em, event));
  await dispatchWebhookEvents({ temporal: stack.temporal, taskQueue: stack.taskQueue, orm: stack.orm }, [id]);
  return id;
}

/** Waits for the event's delivery workflow to finish. */
async function delivered(eventId: string): Promise<void> {
  await stack.temporal.workflow.getHandle(workflowIds.webhookEvent(eventId)).result();
}

async function deliveriesOf(endpointId: string, authorization?: string): Promise<DeliveryView[]> {
  const page = await call<{ data: DeliveryView[] }>(stack, 'GET', `/v1/webhook-endpoints/${endpointId}/deliveries?limit=100`, authorization ? { authorization } : {});
  return page.data;
}

describe('delivery of a recorded event', () => {
  it('POSTs it once, signed per Standard Webhooks with the event id as webhook-id, and logs the delivery', async () => {
    const organizationId = await createOrganization();
    const endpoint = await createEndpoint(organizationId, ['invoice.finalized']);
    const eventId = await recordAndDispatch({
      organizationId,
      type: 'invoice.finalized',
      data: { invoiceId: 'inv_1', total: 12_345, currency: 'USD' },
      dedupeKey: `invoice.finalized:${randomUUID()}`,
    });
    await delivered(eventId);

    const requests = receiver.received(endpoint.path);
    expect(requests).toHaveLength(1);
    const [request] = requests;
    expect(request!.headers).toMatchObject({ 'content-type': 'application/json', 'webhook-id': eventId });
    const payload = new Webhook(endpoint.secret).verify(request!.body, request!.headers) as Record<string, unknown>;
    const [row] = await stack.sql<{ created_at: Date }>('select created_at from webhook_events where id = $1', [eventId]);
    expect(payload).toEqual({
      id: eventId,
      type: 'invoice.finalized',
      createdAt: row!.created_at.toISOString(),
      organizationId,
      data: { invoiceId: 'inv_1', total: 12_345, currency: 'USD' },
    });
    // Signed with another endpoint's secret, the same request does not verify.
    const other = await createEndpoint(organizationId, ['invoice.paid']);
    expect(() => new Webhook(other.secret).verify(request!.body, request!.headers)).toThrow();

    const [delivery] = await deliveriesOf(endpoint.id);
    expect(delivery).toMatchObject({ eventId, eventType: 'invoice.finalized', status: 'succeeded', attempts: 1, lastResponseStatus: 204, lastError: null });
    expect(delivery!.completedAt).not.toBeNull();
    const [event] = await stack.sql<{ dispatched_at: Date | null }>('select dispatched_at from webhook_events where id = $1', [eventId]);
    expect(event!.dispatched_at).not.toBeNull();

    // Dispatching again (a retried caller, the sweep) starts no second run and delivers nothing more.
    const handle = stack.temporal.workflow.getHandle(workflowIds.webhookEvent(eventId));
    const { runId } = await handle.describe();
    await dispatchWebhookEvents({ temporal: stack.temporal, taskQueue: stack.taskQueue, orm: stack.orm }, [eventId]);
    expect((await handle.describe()).runId).toBe(runId);
    expect(receiver.received(endpoint.path)).toHaveLength(1);
  });

  it('goes to the subscribed endpoints of the organization, its ancestors and the platform, and nowhere else', async () => {
    const parentId = await createOrganization();
    const organizationId = await createOrganization(parentId);
    const childId = await createOrganization(organizationId);
    // A type of this test's own: the platform endpoint sees the whole database's events.
    const receiving = {
      exact: await createEndpoint(organizationId, ['matching.tested']),
      prefix: await createEndpoint(organizationId, ['matching.*']),
      everything: await createEndpoint(organizationId, ['*']),
      parent: await createEndpoint(parentId, ['matching.tested']),
      platform: await createEndpoint(null, ['matching.*']),
    };
    const silent = {
      otherType: await createEndpoint(organizationId, ['matching.other', 'usage.*']),
      child: await createEndpoint(childId, ['*']),
      otherTenant: await createEndpoint(await createOrganization(), ['*']),
      disabled: await createEndpoint(organizationId, ['*']),
    };
    await call(stack, 'DELETE', `/v1/webhook-endpoints/${silent.disabled.id}`, { expect: 200 });

    const eventId = await recordAndDispatch({ organizationId, type: 'matching.tested', data: {}, dedupeKey: `match:${randomUUID()}` });
    await delivered(eventId);

    for (const endpoint of Object.values(receiving)) {
      expect(receiver.received(endpoint.path).map((request) => request.headers['webhook-id'])).toEqual([eventId]);
    }
    for (const endpoint of Object.values(silent)) expect(receiver.received(endpoint.path)).toEqual([]);
    const [count] = await stack.sql<{ count: string }>('select count(*) from webhook_deliveries where event_id = $1', [eventId]);
    expect(Number(count!.count)).toBe(Object.keys(receiving).length);
  });

  it('goes nowhere when no endpoint subscribes to it, without starting a delivery workflow', async () => {
    const organizationId = await createOrganization();
    const endpoint = await createEndpoint(organizationId, ['usage.threshold_reached']);
    const eventId = await recordAndDispatch({ organizationId, type: 'invoice.paid', data: {}, dedupeKey: `nowhere:${randomUUID()}` });
    await expect(stack.temporal.workflow.getHandle(workflowIds.webhookEvent(eventId)).describe()).rejects.toThrow(WorkflowNotFoundError);
    expect(receiver.received(endpoint.path)).toEqual([]);
    expect(await stack.sql('select id from webhook_deliveries where event_id = $1', [eventId])).toEqual([]);
    const [event] = await stack.sql<{ dispatched_at: Date | null }>('select dispatched_at from webhook_events where id = $1', [eventId]);
    expect(event!.dispatched_at).not.toBeNull();
  });

  it('retries a failing receiver with backoff until it succeeds, logging every attempt', async () => {
    const organizationId = await createOrganization();
    const endpoint = await createEndpoint(organizationId, ['invoice.payment_failed']);
    receiver.failFirst(endpoint.path, 2);
    const eventId = await recordAndDispatch({ organizationId, type: 'invoice.payment_failed', data: { attempt: 1 }, dedupeKey: `retry:${randomUUID()}` });
    await delivered(eventId);

    const requests = receiver.received(endpoint.path);
    expect(requests).toHaveLength(3);
    // The same event each time (receivers dedupe on webhook-id), each attempt signed anew.
    expect(new Set(requests.map((request) => request.headers['webhook-id']))).toEqual(new Set([eventId]));
    expect(new Set(requests.map((request) => request.body)).size).toBe(1);
    for (const request of requests) expect(() => new Webhook(endpoint.secret).verify(request.body, request.headers)).not.toThrow();

    const [delivery] = await deliveriesOf(endpoint.id);
    expect(delivery).toMatchObject({ eventId, status: 'succeeded', attempts: 3, lastResponseStatus: 204, lastError: null });
    const attempts = await stack.sql<{ attempt: number; response_status: number | null; error: string | null }>(
      'select attempt, response_status, error from webhook_delivery_attempts where delivery_id = $1 order by attempt',
      [delivery!.id],
    );
    expect(attempts).toEqual([
      { attempt: 1, response_status: 503, error: 'endpoint answered HTTP 503' },
      { attempt: 2, response_status: 503, error: 'endpoint answered HTTP 503' },
      { attempt: 3, response_status: 204, error: null },
    ]);
  });

  it('marks the delivery failed once the retry policy is exhausted, and other endpoints still get theirs', async () => {
    const organizationId = await createOrganization();
    const failing = await createEndpoint(organizationId, ['invoice.paid']);
    const healthy = await createEndpoint(organizationId, ['invoice.paid']);
    receiver.failFirst(failing.path, 1_000);
    const eventId = await recordAndDispatch({ organizationId, type: 'invoice.paid', data: {}, dedupeKey: `give-up:${randomUUID()}` });
    await delivered(eventId);

    expect(receiver.received(failing.path)).toHaveLength(retry.maximumAttempts);
    const [failed] = await deliveriesOf(failing.id);
    expect(failed).toMatchObject({ status: 'failed', attempts: retry.maximumAttempts, lastResponseStatus: 503, lastError: 'endpoint answered HTTP 503' });
    expect(failed!.completedAt).not.toBeNull();
    expect(await deliveriesOf(healthy.id)).toMatchObject([{ status: 'succeeded', attempts: 1 }]);
  });

  it('stops retrying an endpoint disabled meanwhile, and marks its delivery failed', async () => {
    const organizationId = await createOrganization();
    const endpoint = await createEndpoint(organizationId, ['invoice.paid']);
    receiver.failFirst(endpoint.path, 1_000);
    const eventId = await recordAndDispatch({ organizationId, type: 'invoice.paid', data: {}, dedupeKey: `disabled:${randomUUID()}` });
    await eventually(async () => ((await deliveriesOf(endpoint.id))[0]?.attempts ? true : undefined));
    await call(stack, 'DELETE', `/v1/webhook-endpoints/${endpoint.id}`, { expect: 200 });
    await delivered(eventId);
    const [delivery] = await deliveriesOf(endpoint.id);
    expect(delivery).toMatchObject({ status: 'failed', lastError: 'webhook endpoint was disabled' });
    expect(delivery!.attempts).toBeLessThan(retry.maximumAttempts);
    expect(receiver.received(endpoint.path)).toHaveLength(delivery!.attempts);
  });

  it('records an attempt that got no answer, with the connection error', async () => {
    const organizationId = await createOrganization();
    // A port nobody listens on: the receiver is closed right away.
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const endpoint = await call<{ id: string }>(stack, 'POST', '/v1/webhook-endpoints', {
      body: { url: `http://127.0.0.1:${port}/hook`, events: ['invoice.paid'], organizationId },
    });
    const eventId = await recordAndDispatch({ organizationId, type: 'invoice.paid', data: {}, dedupeKey: `refused:${randomUUID()}` });
    await delivered(eventId);
    const [delivery] = await deliveriesOf(endpoint.id);
    expect(delivery).toMatchObject({ status: 'failed', attempts: retry.maximumAttempts, lastResponseStatus: null });
    expect(delivery!.lastError).toMatch(/ECONNREFUSED/);
  });

  it('does not follow a redirect: a 302 is a failed attempt with its status, and its Location is never requested', async () => {
    const organizationId = await createOrganization();
    const endpoint = await createEndpoint(organizationId, ['invoice.paid']);
    const elsewhere = await startReceiver();
    try {
      receiver.redirect(endpoint.path, elsewhere.url('/stolen'));
      const eventId = await recordAndDispatch({ organizationId, type: 'invoice.paid', data: {}, dedupeKey: `redirect:${randomUUID()}` });
      await delivered(eventId);
      expect(receiver.received(endpoint.path)).toHaveLength(retry.maximumAttempts);
      expect(elsewhere.received('/stolen')).toEqual([]);
      const [delivery] = await deliveriesOf(endpoint.id);
      expect(delivery).toMatchObject({ status: 'failed', attempts: retry.maximumAttempts, lastResponseStatus: 302, lastError: 'endpoint answered HTTP 302' });
    } finally {
      await elsewhere.close();
    }
  });

  it('connects to the address it resolved and checked, whatever DNS answers a moment later', async () => {
    const organizationId = await createOrganization();
    const host = `pinned-${randomUUID()}.hooks.test`;
    const path = `/${randomUUID()}`;
    // The first answer is the receiver; any later one an address nobody listens on.
    answers.set(host, ['127.0.0.1', '127.0.0.2']);
    const endpoint = await call<{ id: string }>(stack, 'POST', '/v1/webhook-endpoints', {
      body: { url: `http://${host}:${new URL(receiver.url('/')).port}${path}`, events: ['invoice.paid'], organizationId },
    });
    const eventId = await recordAndDispatch({ organizationId, type: 'invoice.paid', data: {}, dedupeKey: `pinned:${randomUUID()}` });
    await delivered(eventId);
    expect(receiver.received(path).map((request) => request.headers.host)).toEqual([`${host}:${new URL(receiver.url('/')).port}`]);
    expect(await deliveriesOf(endpoint.id)).toMatchObject([{ status: 'succeeded', attempts: 1 }]);
    expect(answers.get(host)).toEqual(['127.0.0.2']);
  });
});

describe('the outbox', () => {
  it('records a repeated dedupeKey once and returns the first event’s id', async () => {
    const dedupeKey = `dedupe:${randomUUID()}`;
    const first = await stack.orm.em.fork().transactional((em) => recordWebhookEvent(em, { organizationId: a.id, type: 'invoice.paid', data: { n: 1 }, dedupeKey }));
    const again = await stack.orm.em.fork().transactional((em) => recordWebhookEvent(em, { organizationId: a.id, type: 'invoice.paid', data: { n: 2 }, dedupeKey }));
    expect(again).toBe(first);
    expect(await stack.sql('select id, payload from webhook_events where dedupe_key = $1', [dedupeKey])).toEqual([{ id: first, payload: { n: 1 } }]);
  });

  it('keeps nothing when the recording transaction rolls back', async () => {
    const dedupeKey = `rolled-back:${randomUUID()}`;
    await expect(
      stack.orm.em.fork().transactional(async (em) => {
        await recordWebhookEvent(em, { organizationId: a.id, type: 'invoice.paid', data: {}, dedupeKey });
        throw new Error('the business change failed');
      }),
    ).rejects.toThrow('the business change failed');
    expect(await stack.sql('select id from webhook_events where dedupe_key = $1', [dedupeKey])).toEqual([]);
  });

  it('is swept: a committed event never dispatched (the process died after the commit) is delivered by the schedule', async () => {
    const organizationId = await createOrganization();
    const endpoint = await createEndpoint(organizationId, ['invoice.finalized']);
    const orphan = await stack.orm.em.fork().transactional((em) =>
      recordWebhookEvent(em, { organizationId, type: 'invoice.finalized', data: { orphan: true }, dedupeKey: `orphan:${randomUUID()}` }),
    );
    const young = await stack.orm.em.fork().transactional((em) =>
      recordWebhookEvent(em, { organizationId, type: 'invoice.finalized', data: { young: true }, dedupeKey: `young:${randomUUID()}` }),
    );
    // Committed a minute ago; the young one is left to its own post-commit dispatch.
    await stack.sql("update webhook_events set created_at = created_at - interval '1 minute' where id = $1", [orphan]);

    // Its own schedule id: the real `webhook-dispatch-sweep` belongs to the deployment's task queue.
    const scheduleId = `webhook-dispatch-sweep-test-${randomUUID()}`;
    const definition: ScheduleDefinition = { scheduleId, spec: { intervals: [{ every: '1 hour' }] }, workflowType: 'webhookDispatchSweep' };
    await ensureSchedules(stack.temporal, stack.taskQueue, [definition]);
    await ensureSchedules(stack.temporal, stack.taskQueue, [definition]);
    const schedule = stack.temporal.schedule.getHandle(scheduleId);
    try {
      await schedule.trigger();
      const sweepRun = await eventually(async () => (await schedule.describe()).info.recentActions[0]?.action.workflow.workflowId);
      const swept: number = await stack.temporal.workflow.getHandle<typeof webhookDispatchSweep>(sweepRun).result();
      expect(swept).toBeGreaterThanOrEqual(1);
    } finally {
      await schedule.delete();
    }
    await delivered(orphan);
    expect(receiver.received(endpoint.path).map((request) => request.headers['webhook-id'])).toEqual([orphan]);
    const rows = await stack.sql<{ id: string; dispatched: boolean }>('select id, dispatched_at is not null as dispatched from webhook_events where id = any($1)', [
      [orphan, young],
    ]);
    expect(Object.fromEntries(rows.map((row) => [row.id, row.dispatched]))).toEqual({ [orphan]: true, [young]: false });
  });
});

describe('POST /v1/webhook-endpoints/{id}/test', () => {
  it('sends a signed webhook.test event to that endpoint only, whatever it subscribes to', async () => {
    const organizationId = await createOrganization();
    const endpoint = await createEndpoint(organizationId, ['invoice.paid']);
    const sibling = await createEndpoint(organizationId, ['*']);
    const event = await call<{ id: string; type: string; endpointId: string; organizationId: string }>(stack, 'POST', `/v1/webhook-endpoints/${endpoint.id}/test`);
    expect(event).toMatchObject({ type: 'webhook.test', endpointId: endpoint.id, organizationId });
    await delivered(event.id);
    const [request] = receiver.received(endpoint.path);
    expect(new Webhook(endpoint.secret).verify(request!.body, request!.headers)).toMatchObject({ id: event.id, type: 'webhook.test', data: { endpointId: endpoint.id } });
    expect(receiver.received(sibling.path)).toEqual([]);
    expect(await deliveriesOf(endpoint.id)).toMatchObject([{ eventId: event.id, eventType: 'webhook.test', status: 'succeeded' }]);
  });

  it('refuses a disabled endpoint with a 409 and records nothing', async () => {
    const endpoint = await createEndpoint(a.id, ['*']);
    await call(stack, 'DELETE', `/v1/webhook-endpoints/${endpoint.id}`, { expect: 200 });
    const [before] = await stack.sql<{ count: string }>('select count(*) from webhook_events');
    await expectProblem(await stack.request('POST', `/v1/webhook-endpoints/${endpoint.id}/test`), 409, 'webhook_endpoint_disabled');
    expect(await stack.sql('select count(*) from webhook_events')).toEqual([before]);
  });
});

describe('GET /v1/webhook-endpoints/{id}/deliveries', () => {
  it('pages the log oldest first with a cursor', async () => {
    const organizationId = await createOrganization();
    const endpoint = await createEndpoint(organizationId, ['invoice.paid']);
    const eventIds: string[] = [];
    for (let n = 0; n < 3; n += 1) {
      const eventId = await recordAndDispatch({ organizationId, type: 'invoice.paid', data: { n }, dedupeKey: `page:${randomUUID()}` });
      await delivered(eventId);
      eventIds.push(eventId);
    }
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const query: string = `limit=2${cursor ? `&cursor=${cursor}` : ''}`;
      const page: { data: DeliveryView[]; nextCursor: string | null } = await call(stack, 'GET', `/v1/webhook-endpoints/${endpoint.id}/deliveries?${query}`);
      seen.push(...page.data.map((delivery) => delivery.eventId));
      cursor = page.nextCursor;
    } while (cursor !== null);
    expect(seen).toEqual(eventIds);
  });

  it('is readable by the endpoint’s organization, refused to its MEMBER, and invisible to another tenant', async () => {
    // Not invoice.*: the tenant's own endpoints (unreachable URLs) would be retried meanwhile.
    const endpoint = await createEndpoint(a.id, ['usage.threshold_reached']);
    const eventId = await recordAndDispatch({ organizationId: a.id, type: 'usage.threshold_reached', data: {}, dedupeKey: `isolation:${randomUUID()}` });
    await delivered(eventId);
    expect(await deliveriesOf(endpoint.id, a.people.BILLING_ADMIN.authorization)).toMatchObject([{ eventId }]);
    for (const outsider of [b.people.OWNER.authorization, b.keys.write.authorization]) {
      const response = await stack.request('GET', `/v1/webhook-endpoints/${endpoint.id}/deliveries`, { headers: { authorization: outsider } });
      await expectProblem(response, 404, 'webhook_endpoint_not_found');
    }
    await expectProblem(
      await stack.request('GET', `/v1/webhook-endpoints/${endpoint.id}/deliveries`, { headers: { authorization: a.people.MEMBER.authorization } }),
      403,
      'forbidden',
    );
  });
});

describe('subscription.updated', () => {
  it('is recorded with each new version of the subscription mirror and delivered to subscribed endpoints', async () => {
    const organizationId = await createOrganization();
    const endpoint = await createEndpoint(organizationId, ['subscription.updated']);
    const subscription = await call<{ id: string }>(stack, 'POST', '/v1/subscriptions', { body: { organizationId, planCode: catalog.planCode, seats: 2 } });
    const first = await eventually(async () => receiver.received(endpoint.path)[0]);
    const created = new Webhook(endpoint.secret).verify(first.body, first.headers) as { type: string; organizationId: string; data: Record<string, unknown> };
    expect(created).toMatchObject({ type: 'subscription.updated', organizationId, data: { id: subscription.id, organizationId, seats: 2, version: 1 } });

    await call(stack, 'POST', `/v1/subscriptions/${subscription.id}/seats`, { body: { seats: 5 }, expect: 200 });
    const second = await eventually(async () => receiver.received(endpoint.path)[1]);
    const updated = new Webhook(endpoint.secret).verify(second.body, second.headers) as { data: Record<string, unknown> };
    expect(updated.data).toMatchObject({ id: subscription.id, seats: 5, version: 2 });

    const keys = await stack.sql<{ dedupe_key: string }>("select dedupe_key from webhook_events where type = 'subscription.updated' and payload ->> 'id' = $1 order by created_at", [
      subscription.id,
    ]);
    expect(keys.map((row) => row.dedupe_key)).toEqual([`subscription.updated:${subscription.id}:1`, `subscription.updated:${subscription.id}:2`]);
  });
});
