import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { workflowIds } from '../../src/temporal/workflow-ids.js';
import { dispatchWebhookEvents, recordWebhookEvent } from '../../src/webhooks/outbox.js';
import type { HostResolver } from '../../src/webhooks/targets.js';
import { sharedServer } from '../support/servers.js';
import { startTestStack, type TestStack } from '../support/stack.js';
import { expectProblem } from './support/problems.js';
import { bearer, call, signJwt, unique } from './support/world.js';

/**
 * Production rules (`WEBHOOK_ALLOW_PRIVATE_TARGETS` unset): endpoints must be public `https://` URLs,
 * at registration and at every delivery. Host names resolve through `dns`, a table the tests edit
 * (the machine has no DNS of its own); a name not in it does not exist.
 */
const dns = new Map<string, string[]>();
const resolveHost: HostResolver = async (hostname) => {
  const addresses = dns.get(hostname);
  if (!addresses) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
  return addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
};
/** example.com's address: public, and never connected to (these tests refuse before connecting). */
const publicAddress = '93.184.215.14';

const retry = { initialIntervalMs: 50, backoffCoefficient: 2, maximumIntervalMs: 200, maximumAttempts: 4 };

let stack: TestStack;
let organizationId: string;
let ownerAuthorization: string;
/** A TCP listener on 127.0.0.1 counting the connections it accepts: a refused target is never connected. */
let tcp: { server: Server; port: number; connections: number };

beforeAll(async () => {
  stack = await startTestStack({ webhookRetry: retry, webhookTargets: { allowPrivate: false, resolveHost } });
  organizationId = (await call<{ id: string }>(stack, 'POST', '/v1/organizations', { body: { name: unique('ssrf'), currency: 'USD' } })).id;
  const owner = unique('ssrf-owner');
  await call(stack, 'POST', `/v1/organizations/${organizationId}/members`, { body: { userId: owner, email: 'owner@example.test', role: 'OWNER' } });
  ownerAuthorization = bearer(await signJwt(owner));
  const server = createServer((socket) => {
    tcp.connections += 1;
    socket.destroy();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  tcp = { server, port: (server.address() as AddressInfo).port, connections: 0 };
});
afterAll(async () => {
  await stack?.stop();
  await new Promise((resolve) => tcp?.server.close(resolve));
});

const register = (url: string) =>
  // A type nothing records: an accepted endpoint here is never delivered to.
  stack.request('POST', '/v1/webhook-endpoints', { body: { url, events: ['registration.tested'], organizationId }, headers: { authorization: ownerAuthorization } });

const endpointsWithUrl = async (url: string) => (await stack.sql('select id from webhook_endpoints where url = $1', [url])).length;

describe('registration', () => {
  const apiPort = () => new URL(stack.baseUrl).port;
  const stripeMockPort = () => new URL(sharedServer('stripeApiUrl')).port;
  const targets: [label: string, url: () => string, reason: string][] = [
    ['the API itself', () => `https://127.0.0.1:${apiPort()}/v1/organizations`, '127.0.0.1 is a loopback address'],
    ['stripe-mock', () => `https://127.0.0.1:${stripeMockPort()}/v1/charges`, '127.0.0.1 is a loopback address'],
    ['the Temporal UI (http)', () => 'http://127.0.0.1:8233/', 'the URL must use https'],
    ['decimal IPv4', () => 'https://2130706433/', '127.0.0.1 is a loopback address'],
    ['octal IPv4', () => 'https://0177.0.0.1/', '127.0.0.1 is a loopback address'],
    ['hex IPv4', () => 'https://0x7f.0x0.0x0.0x1/', '127.0.0.1 is a loopback address'],
    ['hex IPv4 as one number', () => 'https://0x7f000001/', '127.0.0.1 is a loopback address'],
    ['short IPv4', () => 'https://127.1/', '127.0.0.1 is a loopback address'],
    ['unspecified IPv4', () => 'https://0.0.0.0:5432/', '0.0.0.0 is the unspecified address'],
    ['RFC 1918', () => 'https://10.0.0.5/', '10.0.0.5 is a private address'],
    ['RFC 1918 (192.168)', () => 'https://192.168.1.1/', '192.168.1.1 is a private address'],
    ['carrier-grade NAT', () => 'https://100.64.0.1/', '100.64.0.1 is a shared (carrier-grade NAT) address'],
    ['link-local', () => 'https://169.254.10.10/', '169.254.10.10 is a link-local address'],
    ['cloud metadata (IPv4)', () => 'https://169.254.169.254/latest/meta-data/', '169.254.169.254 is a cloud metadata address'],
    ['multicast', () => 'https://224.0.0.1/', '224.0.0.1 is a multicast address'],
    ['broadcast', () => 'https://255.255.255.255/', '255.255.255.255 is the broadcast address'],
    ['documentation', () => 'https://192.0.2.1/', '192.0.2.1 is a documentation address'],
    ['reserved', () => 'https://240.0.0.1/', '240.0.0.1 is a reserved address'],
    ['IPv6 loopback', () => 'https://[::1]:3000/', '::1 is a loopback address'],
    ['IPv6 unspecified', () => 'https://[::]/', ':: is the unspecified address'],
    ['IPv4-mapped IPv6', () => 'https://[::ffff:127.0.0.1]/', '::ffff:7f00:1 is a loopback address'],
    ['IPv4-mapped IPv6, hex', () => 'https://[::ffff:a9fe:a9fe]/', '::ffff:a9fe:a9fe is a cloud metadata address'],
    ['IPv4-compatible IPv6', () => 'https://[::127.0.0.1]/', '::7f00:1 is an IPv4-compatible IPv6 address'],
    ['IPv6 link-local', () => 'https://[fe80::1]/', 'fe80::1 is a link-local address'],
    ['IPv6 unique-local', () => 'https://[fd12:3456::1]/', 'fd12:3456::1 is a unique-local address'],
    ['cloud metadata (IPv6)', () => 'https://[fd00:ec2::254]/', 'fd00:ec2::254 is a cloud metadata address'],
    ['IPv6 multicast', () => 'https://[ff02::1]/', 'ff02::1 is a multicast address'],
    ['IPv6 documentation', () => 'https://[2001:db8::1]/', '2001:db8::1 is a documentation address'],
    ['localhost', () => 'https://localhost:3000/', 'localhost is a name for this machine'],
    ['localhost. (root label)', () => 'https://localhost./', 'localhost is a name for this machine'],
    ['*.localhost', () => 'https://api.localhost/', 'api.localhost is a name for this machine'],
    ['metadata.google.internal', () => 'https://metadata.google.internal/computeMetadata/v1/', 'metadata.google.internal is a name of a private network'],
    ['a name resolving to loopback', () => 'https://loopback.hooks.test/', 'loopback.hooks.test resolves to 127.0.0.1, a loopback address'],
    ['a name resolving to IPv6 loopback', () => 'https://loopback6.hooks.test/', 'loopback6.hooks.test resolves to ::1, a loopback address'],
    ['a name with one private address among public ones', () => 'https://mixed.hooks.test/', 'mixed.hooks.test resolves to 10.1.2.3, a private address'],
    ['a public name over http', () => 'http://public.hooks.test/', 'the URL must use https'],
  ];

  beforeAll(() => {
    dns.set('loopback.hooks.test', ['127.0.0.1']);
    dns.set('loopback6.hooks.test', ['::1']);
    dns.set('mixed.hooks.test', [publicAddress, '10.1.2.3']);
    dns.set('public.hooks.test', [publicAddress]);
  });

  it.each(targets)('refuses %s with 422 webhook_url_refused naming `url`, and stores nothing', async (_label, url, reason) => {
    const problem = await expectProblem(await register(url()), 422, 'webhook_url_refused');
    expect(problem.errors).toEqual([{ field: 'url', message: reason }]);
    expect(await endpointsWithUrl(url())).toBe(0);
  });

  it('accepts a public https URL, and a name that does not resolve (yet)', async () => {
    for (const url of [`https://public.hooks.test/${randomUUID()}`, `https://${publicAddress}:8443/${randomUUID()}`, `https://not-yet.hooks.test/${randomUUID()}`]) {
      expect((await register(url)).status).toBe(201);
      expect(await endpointsWithUrl(url)).toBe(1);
    }
  });
});

interface DeliveryView {
  status: 'pending' | 'succeeded' | 'failed';
  attempts: number;
  lastResponseStatus: number | null;
  lastError: string | null;
}

/** Records an event for the organization's endpoints and waits for its delivery workflow to finish. */
async function deliverEvent(type: string): Promise<string> {
  const eventId = await stack.orm.em.fork().transactional((em) => recordWebhookEvent(em, { organizationId, type, data: {}, dedupeKey: `${type}:${randomUUID()}` }));
  await dispatchWebhookEvents({ temporal: stack.temporal, taskQueue: stack.taskQueue, orm: stack.orm }, [eventId]);
  await stack.temporal.workflow.getHandle(workflowIds.webhookEvent(eventId)).result();
  return eventId;
}

async function deliveriesOf(endpointId: string): Promise<DeliveryView[]> {
  return (await call<{ data: DeliveryView[] }>(stack, 'GET', `/v1/webhook-endpoints/${endpointId}/deliveries`)).data;
}

describe('delivery', () => {
  it('resolves the name again: one that resolved to a public address at registration and to loopback now is refused, once, with the reason', async () => {
    const host = `rebinding-${randomUUID()}.hooks.test`;
    dns.set(host, [publicAddress]);
    const type = 'rebinding.tested';
    const endpoint = await call<{ id: string }>(stack, 'POST', '/v1/webhook-endpoints', { body: { url: `https://${host}:${tcp.port}/hook`, events: [type], organizationId } });
    dns.set(host, ['127.0.0.1']);

    await deliverEvent(type);
    const [delivery] = await deliveriesOf(endpoint.id);
    expect(delivery).toMatchObject({
      status: 'failed',
      // Refused without retries: asking again would be refused again.
      attempts: 1,
      lastResponseStatus: null,
      lastError: `webhook target refused: ${host} resolves to 127.0.0.1, a loopback address`,
    });
    const attempts = await stack.sql<{ response_status: number | null; error: string }>(
      'select a.response_status, a.error from webhook_delivery_attempts a join webhook_deliveries d on d.id = a.delivery_id where d.endpoint_id = $1',
      [endpoint.id],
    );
    expect(attempts).toEqual([{ response_status: null, error: `webhook target refused: ${host} resolves to 127.0.0.1, a loopback address` }]);
    expect(tcp.connections).toBe(0);
  });

  it('refuses a stored endpoint on a private address (registered before the rule or with the allowance) without connecting', async () => {
    const type = 'stored.tested';
    const endpointId = randomUUID();
    // Hex spelling: delivery parses the URL as registration and the HTTP client do.
    await stack.sql(`insert into webhook_endpoints (id, organization_id, url, events, secret, created_at) values ($1, $2, $3, $4, $5, now())`, [
      endpointId,
      organizationId,
      `https://0x7f.1:${tcp.port}/hook`,
      [type],
      `whsec_${Buffer.from(randomUUID()).toString('base64')}`,
    ]);
    await deliverEvent(type);
    expect(await deliveriesOf(endpointId)).toMatchObject([
      { status: 'failed', attempts: 1, lastResponseStatus: null, lastError: 'webhook target refused: 127.0.0.1 is a loopback address' },
    ]);
    expect(tcp.connections).toBe(0);
  });
});
