import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import { Application, ExternalId, Organization } from '../../db/entities/index.js';
import { requireOrganization } from '../http/access.js';
import { audit } from '../http/audit.js';
import type { AppEnv } from '../http/context.js';
import { PageQuerySchema, afterCursor, pageOrder, pageSchema, toPage } from '../http/pagination.js';
import { ApiError, problemResponses } from '../http/problem.js';
import { jsonBody, jsonResponse, uuidParam } from '../http/schemas.js';
import { textSchema } from '../http/text.js';

const CreateExternalIdSchema = z
  .strictObject({
    applicationSlug: textSchema({ maxLength: 64 }).openapi({ example: 'reports' }),
    externalId: textSchema({ maxLength: 200 }).openapi({ example: 'acme-tenant-42' }),
  })
  .openapi('CreateExternalId');

const ExternalIdSchema = z
  .object({
    id: z.uuid(),
    organizationId: z.uuid(),
    applicationSlug: z.string(),
    externalId: z.string(),
    createdAt: z.iso.datetime(),
  })
  .openapi('ExternalId');

const params = z.object({ id: uuidParam('id') });
const tags = ['Organizations'];
const security = [{ bearer: [] }];

const createExternalIdRoute = createRoute({
  method: 'post',
  path: '/v1/organizations/{id}/external-ids',
  tags,
  security,
  summary: "Record how an application names this organization",
  request: { params, body: jsonBody(CreateExternalIdSchema) },
  responses: { 201: jsonResponse('Created', ExternalIdSchema), ...problemResponses(400, 401, 403, 404, 409, 422) },
});

const listExternalIdsRoute = createRoute({
  method: 'get',
  path: '/v1/organizations/{id}/external-ids',
  tags,
  security,
  summary: "List an organization's external ids",
  request: { params, query: PageQuerySchema },
  responses: { 200: jsonResponse('A page of external ids', pageSchema(ExternalIdSchema, 'ExternalIdPage')), ...problemResponses(400, 401, 403, 404) },
});

const toExternalIdView = (externalId: ExternalId) => ({
  id: externalId.id,
  organizationId: externalId.organization.id,
  applicationSlug: externalId.application.slug,
  externalId: externalId.externalId,
  createdAt: externalId.createdAt.toISOString(),
});

export function registerExternalIds(app: OpenAPIHono<AppEnv>) {
  app.openapi(createExternalIdRoute, async (c) => {
    const { id } = c.req.valid('param');
    await requireOrganization(c, 'externalId.write', id);
    const body = c.req.valid('json');
    const { em } = c.var;
    const application = await em.findOne(Application, { slug: body.applicationSlug });
    if (!application) throw new ApiError(422, 'application_not_found', `No application "${body.applicationSlug}".`);
    // Deliberately vague: naming the organization that holds the id would leak across tenants.
    if (await em.count(ExternalId, { application, externalId: body.externalId })) {
      throw new ApiError(409, 'external_id_taken', `"${body.externalId}" already names an organization in ${application.slug}.`);
    }
    if (await em.count(ExternalId, { application, organization: id })) {
      throw new ApiError(409, 'external_id_exists', `This organization already has an external id in ${application.slug}.`);
    }
    const externalId = em.create(ExternalId, {
      id: crypto.randomUUID(),
      organization: em.getReference(Organization, id),
      application,
      externalId: body.externalId,
    });
    await em.flush();
    const view = toExternalIdView(externalId);
    audit(c, { action: 'external_id.created', organizationId: id, targetType: 'external_id', targetId: externalId.id, after: view });
    return c.json(view, 201);
  });

  app.openapi(listExternalIdsRoute, async (c) => {
    const { id } = c.req.valid('param');
    await requireOrganization(c, 'externalId.read', id);
    const { limit, cursor } = c.req.valid('query');
    const rows = await c.var.em.find(ExternalId, { organization: id, ...afterCursor(cursor) }, {
      orderBy: pageOrder,
      limit: limit + 1,
      populate: ['application'],
    });
    return c.json(toPage(rows, limit, toExternalIdView), 200);
  });
}
