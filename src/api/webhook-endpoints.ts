import { randomBytes } from 'node:crypto';
import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import { Organization, WebhookEndpoint } from '../db/entities/index.js';
import { requireGlobal, requireOrganization, requireOwnedObject } from './access.js';
import { audit } from './audit.js';
import type { AppEnv } from './context.js';
import { PageQuerySchema, afterCursor, pageOrder, pageSchema, toPage } from './pagination.js';
import { ApiError, problemResponses } from './problem.js';
import { jsonBody, jsonResponse, uuidParam } from './schemas.js';

const eventNameSchema = z
  .string()
  .regex(/^(\*|[a-z_]+\.(\*|[a-z_]+))$/, 'an event type such as invoice.finalized, invoice.* or *');

const CreateWebhookEndpointSchema = z
  .strictObject({
    url: z.url({ protocol: /^https?$/ }).max(2048).openapi({ example: 'https://erp.example.com/ledgerflow' }),
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
  responses: { 201: jsonResponse('Created', CreatedWebhookEndpointSchema), ...problemResponses(400, 401, 403, 404) },
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
}
