import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import { Application } from '../../db/entities/index.js';
import { requireGlobal } from '../http/access.js';
import { audit } from '../http/audit.js';
import type { AppEnv } from '../http/context.js';
import { PageQuerySchema, afterCursor, pageOrder, pageSchema, toPage } from '../http/pagination.js';
import { ApiError, problemResponses } from '../http/problem.js';
import { jsonBody, jsonResponse } from '../http/schemas.js';
import { textSchema } from '../http/text.js';

const slugSchema = z
  .string()
  .regex(/^[a-z0-9][a-z0-9-]{0,63}$/, 'lowercase letters, digits and dashes, at most 64 characters')
  .openapi({ example: 'reports' });

const CreateApplicationSchema = z
  .strictObject({ slug: slugSchema, name: textSchema({ maxLength: 200 }).openapi({ example: 'Reports' }) })
  .openapi('CreateApplication');

const ApplicationSchema = z
  .object({ id: z.uuid(), slug: z.string(), name: z.string(), createdAt: z.iso.datetime() })
  .openapi('Application');

const tags = ['Catalog'];
const security = [{ bearer: [] }];

const createApplicationRoute = createRoute({
  method: 'post',
  path: '/v1/applications',
  tags,
  security,
  summary: 'Register a product application',
  request: { body: jsonBody(CreateApplicationSchema) },
  responses: { 201: jsonResponse('Created', ApplicationSchema), ...problemResponses(400, 401, 403, 409, 503) },
});

const listApplicationsRoute = createRoute({
  method: 'get',
  path: '/v1/applications',
  tags,
  security,
  summary: 'List product applications',
  request: { query: PageQuerySchema },
  responses: { 200: jsonResponse('A page of applications', pageSchema(ApplicationSchema, 'ApplicationPage')), ...problemResponses(400, 401, 403) },
});

const getApplicationRoute = createRoute({
  method: 'get',
  path: '/v1/applications/{slug}',
  tags,
  security,
  summary: 'Get a product application',
  request: { params: z.object({ slug: slugSchema.openapi({ param: { name: 'slug', in: 'path' } }) }) },
  responses: { 200: jsonResponse('The application', ApplicationSchema), ...problemResponses(400, 401, 403, 404) },
});

const toApplicationView = (application: Application) => ({
  id: application.id,
  slug: application.slug,
  name: application.name,
  createdAt: application.createdAt.toISOString(),
});

export function registerApplications(app: OpenAPIHono<AppEnv>) {
  app.openapi(createApplicationRoute, async (c) => {
    requireGlobal(c, 'catalog.write');
    const body = c.req.valid('json');
    const { em } = c.var;
    if (await em.count(Application, { slug: body.slug })) {
      throw new ApiError(409, 'application_slug_taken', `An application with slug "${body.slug}" already exists.`);
    }
    const application = em.create(Application, { id: crypto.randomUUID(), slug: body.slug, name: body.name });
    await em.flush();
    const view = toApplicationView(application);
    audit(c, { action: 'application.created', organizationId: null, targetType: 'application', targetId: application.id, after: view });
    return c.json(view, 201);
  });

  app.openapi(listApplicationsRoute, async (c) => {
    requireGlobal(c, 'catalog.read');
    const { limit, cursor } = c.req.valid('query');
    const rows = await c.var.em.find(Application, afterCursor(cursor), { orderBy: pageOrder, limit: limit + 1 });
    return c.json(toPage(rows, limit, toApplicationView), 200);
  });

  app.openapi(getApplicationRoute, async (c) => {
    requireGlobal(c, 'catalog.read');
    const { slug } = c.req.valid('param');
    const application = await c.var.em.findOne(Application, { slug });
    if (!application) throw new ApiError(404, 'application_not_found', `No application "${slug}".`);
    return c.json(toApplicationView(application), 200);
  });
}
