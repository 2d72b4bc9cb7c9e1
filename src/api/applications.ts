import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import { Application } from '../db/entities/index.js';
import type { AppEnv } from './context.js';
import { ApiError, problemResponses } from './problem.js';
import { jsonBody } from './schemas.js';

const CreateApplicationSchema = z
  .strictObject({
    slug: z
      .string()
      .regex(/^[a-z0-9][a-z0-9-]{0,63}$/, 'lowercase letters, digits and dashes, at most 64 characters')
      .openapi({ example: 'reports' }),
    name: z.string().trim().min(1).max(200).openapi({ example: 'Reports' }),
  })
  .openapi('CreateApplication');

const ApplicationSchema = z
  .object({ id: z.uuid(), slug: z.string(), name: z.string(), createdAt: z.iso.datetime() })
  .openapi('Application');

const createApplicationRoute = createRoute({
  method: 'post',
  path: '/v1/applications',
  tags: ['Catalog'],
  summary: 'Register a product application',
  security: [{ bearer: [] }],
  request: { body: jsonBody(CreateApplicationSchema) },
  responses: {
    201: { description: 'Created', content: { 'application/json': { schema: ApplicationSchema } } },
    ...problemResponses(400, 401, 409, 503),
  },
});

const toApplicationView = (application: Application) => ({
  id: application.id,
  slug: application.slug,
  name: application.name,
  createdAt: application.createdAt.toISOString(),
});

export function registerApplications(app: OpenAPIHono<AppEnv>) {
  app.openapi(createApplicationRoute, async (c) => {
    const body = c.req.valid('json');
    const em = c.var.orm.em.fork();
    if (await em.count(Application, { slug: body.slug })) {
      throw new ApiError(409, 'application_slug_taken', `An application with slug "${body.slug}" already exists.`);
    }
    const application = em.create(Application, { id: crypto.randomUUID(), slug: body.slug, name: body.name });
    await em.flush();
    return c.json(toApplicationView(application), 201);
  });
}
