import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import { ApiKey, platformRoleValues, scopeValues } from '../../db/entities/index.js';
import { requireGlobal, requireOrganization, requireOwnedObject } from '../http/access.js';
import { issueApiKey } from '../auth/api-keys.js';
import { grantsScope } from '../auth/policy.js';
import { audit } from '../http/audit.js';
import type { AppEnv } from '../http/context.js';
import { PageQuerySchema, afterCursor, pageOrder, pageSchema, toPage } from '../http/pagination.js';
import { ApiError, problemResponses } from '../http/problem.js';
import { jsonBody, jsonResponse, uuidParam } from '../http/schemas.js';
import { textSchema } from '../http/text.js';

const CreateApiKeySchema = z
  .strictObject({
    name: textSchema({ maxLength: 200 }).openapi({ example: 'reports backend' }),
    scopes: z.array(z.enum(scopeValues)).min(1).max(scopeValues.length).refine((scopes) => new Set(scopes).size === scopes.length, 'each scope once'),
    organizationId: z.uuid().optional().openapi({ description: 'Confines the key to this organization and its children.' }),
    platformRole: z
      .enum(platformRoleValues)
      .optional()
      .openapi({ description: 'For a key without an organization: the platform role it acts with (default platform_admin).' }),
    expiresAt: z.iso.datetime().optional(),
  })
  .refine((body) => !(body.organizationId && body.platformRole), {
    path: ['platformRole'],
    message: 'a key confined to an organization has no platform role',
  })
  .openapi('CreateApiKey');

const ApiKeySchema = z
  .object({
    id: z.uuid(),
    name: z.string(),
    displayPrefix: z.string().openapi({ description: 'The first characters of the key, to recognise it.' }),
    scopes: z.array(z.enum(scopeValues)),
    organizationId: z.uuid().nullable(),
    platformRole: z.enum(platformRoleValues).nullable(),
    expiresAt: z.iso.datetime().nullable(),
    revokedAt: z.iso.datetime().nullable(),
    lastUsedAt: z.iso.datetime().nullable(),
    createdAt: z.iso.datetime(),
  })
  .openapi('ApiKey');

const CreatedApiKeySchema = ApiKeySchema.extend({
  key: z.string().openapi({
    description: 'The key itself. Shown only in this response (an idempotent replay of the request leaves it out); store it now.',
  }),
}).openapi('CreatedApiKey');

const tags = ['Access'];
const security = [{ bearer: [] }];

const createApiKeyRoute = createRoute({
  method: 'post',
  path: '/v1/api-keys',
  tags,
  security,
  summary: 'Create an API key (the key is shown once)',
  request: { body: jsonBody(CreateApiKeySchema) },
  responses: { 201: jsonResponse('Created', CreatedApiKeySchema), ...problemResponses(400, 401, 403, 404) },
});

const listApiKeysRoute = createRoute({
  method: 'get',
  path: '/v1/api-keys',
  tags,
  security,
  summary: "List API keys: an organization's (`organizationId`) or the platform's",
  request: { query: PageQuerySchema.extend({ organizationId: z.uuid().optional() }) },
  responses: { 200: jsonResponse('A page of keys (never the keys themselves)', pageSchema(ApiKeySchema, 'ApiKeyPage')), ...problemResponses(400, 401, 403, 404) },
});

const revokeApiKeyRoute = createRoute({
  method: 'delete',
  path: '/v1/api-keys/{id}',
  tags,
  security,
  summary: 'Revoke an API key (effective on the next request)',
  request: { params: z.object({ id: uuidParam('id') }) },
  responses: { 200: jsonResponse('The revoked key', ApiKeySchema), ...problemResponses(400, 401, 403, 404) },
});

const toApiKeyView = (apiKey: ApiKey) => ({
  id: apiKey.id,
  name: apiKey.name,
  displayPrefix: apiKey.displayPrefix,
  scopes: apiKey.scopes,
  organizationId: apiKey.organization?.id ?? null,
  platformRole: apiKey.platformRole ?? null,
  expiresAt: apiKey.expiresAt?.toISOString() ?? null,
  revokedAt: apiKey.revokedAt?.toISOString() ?? null,
  lastUsedAt: apiKey.lastUsedAt?.toISOString() ?? null,
  createdAt: apiKey.createdAt.toISOString(),
});

export function registerApiKeys(app: OpenAPIHono<AppEnv>) {
  app.openapi(createApiKeyRoute, async (c) => {
    const body = c.req.valid('json');
    const { em, principal, clock } = c.var;
    if (body.organizationId) await requireOrganization(c, 'apiKey.write', body.organizationId);
    else requireGlobal(c, 'apiKey.write');
    // A key cannot mint a key stronger than itself (people and the bootstrap key may choose freely).
    const beyondOwn = principal.kind === 'api_key' ? body.scopes.filter((scope) => !grantsScope(principal.scopes, scope)) : [];
    if (beyondOwn.length) {
      throw new ApiError(403, 'scope_not_held', `This key cannot grant scopes it does not hold: ${beyondOwn.join(', ')}.`);
    }
    if (body.expiresAt && new Date(body.expiresAt) <= clock.now()) {
      throw new ApiError(400, 'validation_failed', 'The request failed validation.', [{ field: 'expiresAt', message: 'must be in the future' }]);
    }
    const { apiKey, key } = issueApiKey(em, { ...body, expiresAt: body.expiresAt ? new Date(body.expiresAt) : undefined }, principal.id);
    await em.flush();
    const view = toApiKeyView(apiKey);
    audit(c, { action: 'api_key.created', organizationId: body.organizationId ?? null, targetType: 'api_key', targetId: apiKey.id, after: view });
    c.set('shownOnceFields', ['key']);
    return c.json({ ...view, key }, 201);
  });

  app.openapi(listApiKeysRoute, async (c) => {
    const { organizationId, limit, cursor } = c.req.valid('query');
    if (organizationId) await requireOrganization(c, 'apiKey.read', organizationId);
    else requireGlobal(c, 'apiKey.read');
    const rows = await c.var.em.find(ApiKey, { organization: organizationId ?? null, ...afterCursor(cursor) }, { orderBy: pageOrder, limit: limit + 1 });
    return c.json(toPage(rows, limit, toApiKeyView), 200);
  });

  app.openapi(revokeApiKeyRoute, async (c) => {
    const { id } = c.req.valid('param');
    const { em, clock } = c.var;
    const notFound = () => new ApiError(404, 'api_key_not_found', `No API key ${id}.`);
    const apiKey = await em.findOne(ApiKey, { id });
    if (!apiKey) throw notFound();
    await requireOwnedObject(c, 'apiKey.write', apiKey.organization?.id ?? null, notFound);
    const before = toApiKeyView(apiKey);
    apiKey.revokedAt ??= clock.now();
    await em.flush();
    // This process forgets the key at once; every process (this one again) hears the trigger's notification on commit.
    c.var.apiKeyCache?.forget(id);
    const after = toApiKeyView(apiKey);
    audit(c, { action: 'api_key.revoked', organizationId: apiKey.organization?.id ?? null, targetType: 'api_key', targetId: id, before, after });
    return c.json(after, 200);
  });
}
