import { randomBytes } from 'node:crypto';
import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import { Organization, WebhookDelivery, WebhookEndpoint, WebhookEvent, webhookDeliveryStatusValues } from '../../db/entities/index.js';
import { dispatchWebhookEvents, recordWebhookEvent } from '../../webhooks/outbox.js';
import { webhookUrlRefusal } from '../../webhooks/targets.js';
import { requireGlobal, requireOrganization, requireOwnedObject } from '../http/access.js';
import { audit } from '../http/audit.js';
import type { AppEnv } from '../http/context.js';
import { PageQuerySchema, afterCursor, pageOrder, pageSchema, toPage } from '../http/pagination.js';
import { ApiError, problemResponses } from '../http/problem.js';
import { jsonBody, jsonResponse, uuidParam } from '../http/schemas.js';
import { refuseForbiddenCharacters } from '../http/text.js';

const eventNameSchema = z
  .string()
  .regex(/^(\*|[a-z_]+\.(\*|[a-z_]+))$/, 'an event type such as invoice.finalized, invoice.* or *');

const CreateWebhookEndpointSchema = z
  .strictObject({
    url: z
      .url({ protocol: /^https?$/ })
      .max(2048)
      .superRefine(refuseForbiddenCharacters())
      .openapi({
        example: 'https://erp.example.com/ledgerflow',
        description:
          'Where events are POSTed: an `https://` URL of a public host. Refused with 422 `webhook_url_refused`: other schemes; ' +
          'IP addresses (in any spelling: `2130706433`, `0177.0.0.1`, `127.1`, `[::ffff:127.0.0.1]`) and host names resolving to ' +
          'loopback, private (RFC 1918, 100.64.0.0/10), link-local, unique-local, multicast, unspecified, broadcast, reserved, ' +
          'documentation or cloud metadata addresses; `localhost`, `*.localhost` and `*.internal`. Every delivery resolves the ' +
          'host again and refuses the same addresses; redirects are not followed. A development deployment ' +
          '(`WEBHOOK_ALLOW_PRIVATE_TARGETS=1`) accepts `http://` and any address.',
      }),
    events: z.array(eventNameSchema).min(1).max(100),
    organizationId: z.uuid().optional(),
  })
  .openapi('CreateWebhookEndpoint');

const WebhookEndpointSchema = z
  .object({
    id: z.uuid(),
    url: z.string(),
    events: z.array(z.string()),
    organizationId: z.uuid().nullable(),
    createdAt: z.iso.datetime(),
    disabledAt: z.iso.datetime().nullable(),
  })
  .openapi('WebhookEndpoint');

const CreatedWebhookEndpointSchema = WebhookEndpointSchema.extend({
  secret: z.string().openapi({ description: 'Standard Webhooks signing secret (`whsec_…`), shown only in this response.' }),
}).openapi('CreatedWebhookEndpoint');

const tags = ['Webhooks'];
const security = [{ bearer: [] }];

const createWebhookEndpointRoute = createRoute({
  method: 'post',
  path: '/v1/webhook-endpoints',
  tags,
  security,
  summary: 'Register an endpoint for signed event deliveries',
  request: { body: jsonBody(CreateWebhookEndpointSchema) },
  responses: { 201: jsonResponse('Created', CreatedWebhookEndpointSchema), ...problemResponses(400, 401, 403, 404, 422) },
});

const listWebhookEndpointsRoute = createRoute({
  method: 'get',
  path: '/v1/webhook-endpoints',
  tags,
  security,
  summary: "List webhook endpoints: an organization's (`organizationId`) or the platform's",
  request: { query: PageQuerySchema.extend({ organizationId: z.uuid().optional() }) },
  responses: { 200: jsonResponse('A page of endpoints', pageSchema(WebhookEndpointSchema, 'WebhookEndpointPage')), ...problemResponses(400, 401, 403, 404) },
});

const deleteWebhookEndpointRoute = createRoute({
  method: 'delete',
  path: '/v1/webhook-endpoints/{id}',
  tags,
  security,
  summary: 'Disable a webhook endpoint',
  request: { params: z.object({ id: uuidParam('id') }) },
  responses: { 200: jsonResponse('The disabled endpoint', WebhookEndpointSchema), ...problemResponses(400, 401, 403, 404) },
});

const WebhookDeliverySchema = z
  .object({
    id: z.uuid(),
    eventId: z.uuid().openapi({ description: 'Also the `webhook-id` header of every attempt.' }),
    eventType: z.string(),
    status: z.enum(webhookDeliveryStatusValues),
    attempts: z.number().int(),
    lastResponseStatus: z.number().int().nullable().openapi({ description: 'The HTTP status of the last attempt; null when it got no answer.' }),
    lastError: z.string().nullable(),
    createdAt: z.iso.datetime(),
    lastAttemptAt: z.iso.datetime().nullable(),
    completedAt: z.iso.datetime().nullable().openapi({ description: 'When it succeeded or was given up.' }),
  })
  .openapi('WebhookDelivery');

const WebhookTestEventSchema = z
  .object({
    id: z.uuid(),
    type: z.literal('webhook.test'),
    endpointId: z.uuid(),
    organizationId: z.uuid().nullable(),
    createdAt: z.iso.datetime(),
  })
  .openapi('WebhookTestEvent');

const listWebhookDeliveriesRoute = createRoute({
  method: 'get',
  path: '/v1/webhook-endpoints/{id}/deliveries',
  tags,
  security,
  summary: "An endpoint's delivery log, oldest first",
  request: { params: z.object({ id: uuidParam('id') }), query: PageQuerySchema },
  responses: { 200: jsonResponse('A page of deliveries', pageSchema(WebhookDeliverySchema, 'WebhookDeliveryPage')), ...problemResponses(400, 401, 403, 404) },
});

const sendTestEventRoute = createRoute({
  method: 'post',
  path: '/v1/webhook-endpoints/{id}/test',
  tags,
  security,
  summary: 'Send a signed `webhook.test` event to this endpoint only',
  request: { params: z.object({ id: uuidParam('id') }) },
  responses: { 201: jsonResponse('The recorded event, being delivered', WebhookTestEventSchema), ...problemResponses(400, 401, 403, 404, 409) },
});

const toWebhookDeliveryView = (delivery: WebhookDelivery) => ({
  id: delivery.id,
  eventId: delivery.event.id,
  eventType: delivery.event.type,
  status: delivery.status,
  attempts: delivery.attempts,
  lastResponseStatus: delivery.lastResponseStatus ?? null,
  lastError: delivery.lastError ?? null,
  createdAt: delivery.createdAt.toISOString(),
  lastAttemptAt: delivery.lastAttemptAt?.toISOString() ?? null,
  completedAt: delivery.completedAt?.toISOString() ?? null,
});

const toWebhookEndpointView = (endpoint: WebhookEndpoint) => ({
  id: endpoint.id,
  url: endpoint.url,
  events: endpoint.events,
  organizationId: endpoint.organization?.id ?? null,
  createdAt: endpoint.createdAt.toISOString(),
  disabledAt: endpoint.disabledAt?.toISOString() ?? null,
});

export function registerWebhookEndpoints(app: OpenAPIHono<AppEnv>) {
  app.openapi(createWebhookEndpointRoute, async (c) => {
    const body = c.req.valid('json');
    const { em } = c.var;
    if (body.organizationId) await requireOrganization(c, 'webhookEndpoint.write', body.organizationId);
    else requireGlobal(c, 'webhookEndpoint.write');
    const refusal = await webhookUrlRefusal(body.url, {
      allowPrivate: c.var.config.WEBHOOK_ALLOW_PRIVATE_TARGETS ?? false,
      ...(c.var.resolveHost ? { resolveHost: c.var.resolveHost } : {}),
    });
    if (refusal) throw new ApiError(422, 'webhook_url_refused', `Webhooks cannot be delivered there: ${refusal}.`, [{ field: 'url', message: refusal }]);
    const endpoint = em.create(WebhookEndpoint, {
      id: crypto.randomUUID(),
      url: body.url,
      events: [...new Set(body.events)],
      organization: body.organizationId ? em.getReference(Organization, body.organizationId) : null,
      secret: `whsec_${randomBytes(32).toString('base64')}`,
    });
    await em.flush();
    const view = toWebhookEndpointView(endpoint);
    audit(c, { action: 'webhook_endpoint.created', organizationId: body.organizationId ?? null, targetType: 'webhook_endpoint', targetId: endpoint.id, after: view });
    return c.json({ ...view, secret: endpoint.secret }, 201);
  });

  app.openapi(listWebhookEndpointsRoute, async (c) => {
    const { organizationId, limit, cursor } = c.req.valid('query');
    if (organizationId) await requireOrganization(c, 'webhookEndpoint.read', organizationId);
    else requireGlobal(c, 'webhookEndpoint.read');
    const rows = await c.var.em.find(WebhookEndpoint, { organization: organizationId ?? null, ...afterCursor(cursor) }, { orderBy: pageOrder, limit: limit + 1 });
    return c.json(toPage(rows, limit, toWebhookEndpointView), 200);
  });

  app.openapi(deleteWebhookEndpointRoute, async (c) => {
    const { id } = c.req.valid('param');
    const { em, clock } = c.var;
    const notFound = () => new ApiError(404, 'webhook_endpoint_not_found', `No webhook endpoint ${id}.`);
    const endpoint = await em.findOne(WebhookEndpoint, { id });
    if (!endpoint) throw notFound();
    await requireOwnedObject(c, 'webhookEndpoint.write', endpoint.organization?.id ?? null, notFound);
    const before = toWebhookEndpointView(endpoint);
    endpoint.disabledAt ??= clock.now();
    await em.flush();
    const after = toWebhookEndpointView(endpoint);
    audit(c, { action: 'webhook_endpoint.disabled', organizationId: endpoint.organization?.id ?? null, targetType: 'webhook_endpoint', targetId: id, before, after });
    return c.json(after, 200);
  });

  app.openapi(listWebhookDeliveriesRoute, async (c) => {
    const { id } = c.req.valid('param');
    const { limit, cursor } = c.req.valid('query');
    const { em } = c.var;
    const notFound = () => new ApiError(404, 'webhook_endpoint_not_found', `No webhook endpoint ${id}.`);
    const endpoint = await em.findOne(WebhookEndpoint, { id });
    if (!endpoint) throw notFound();
    await requireOwnedObject(c, 'webhookEndpoint.read', endpoint.organization?.id ?? null, notFound);
    const rows = await em.find(WebhookDelivery, { endpoint: id, ...afterCursor(cursor) }, { orderBy: pageOrder, limit: limit + 1, populate: ['event'] });
    return c.json(toPage(rows, limit, toWebhookDeliveryView), 200);
  });

  app.openapi(sendTestEventRoute, async (c) => {
    const { id } = c.req.valid('param');
    const { em, temporal, config, logger, orm } = c.var;
    const notFound = () => new ApiError(404, 'webhook_endpoint_not_found', `No webhook endpoint ${id}.`);
    const endpoint = await em.findOne(WebhookEndpoint, { id });
    if (!endpoint) throw notFound();
    const organizationId = endpoint.organization?.id ?? null;
    await requireOwnedObject(c, 'webhookEndpoint.write', organizationId, notFound);
    if (endpoint.disabledAt) throw new ApiError(409, 'webhook_endpoint_disabled', `Webhook endpoint ${id} is disabled.`);
    const eventId = await recordWebhookEvent(em, {
      organizationId,
      endpointId: id,
      type: 'webhook.test',
      data: { endpointId: id, message: 'A test event from Ledgerflow.' },
      // Every request is a new test; a replay with the same Idempotency-Key never gets here.
      dedupeKey: `webhook.test:${crypto.randomUUID()}`,
    });
    const event = await em.findOneOrFail(WebhookEvent, { id: eventId });
    const view = { id: eventId, type: 'webhook.test' as const, endpointId: id, organizationId, createdAt: event.createdAt.toISOString() };
    audit(c, { action: 'webhook_endpoint.test_sent', organizationId, targetType: 'webhook_event', targetId: eventId, after: view });
    c.var.afterCommit(() => dispatchWebhookEvents({ temporal, taskQueue: config.TEMPORAL_TASK_QUEUE, orm, logger }, [eventId]));
    return c.json(view, 201);
  });
}
