import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import { Department, Organization } from '../../db/entities/index.js';
import { requireOrganization } from '../http/access.js';
import { audit } from '../http/audit.js';
import type { AppEnv } from '../http/context.js';
import { PageQuerySchema, afterCursor, pageOrder, pageSchema, toPage } from '../http/pagination.js';
import { ApiError, problemResponses } from '../http/problem.js';
import { jsonBody, jsonResponse, uuidParam } from '../http/schemas.js';
import { textSchema } from '../http/text.js';

const CreateDepartmentSchema = z
  .strictObject({
    name: textSchema({ maxLength: 200 }).openapi({ example: 'Research' }),
    costCenter: textSchema({ maxLength: 64 }).optional().openapi({ example: 'CC-1200' }),
    glCode: textSchema({ maxLength: 64 }).optional().openapi({ example: '6100' }),
  })
  .openapi('CreateDepartment');

const DepartmentSchema = z
  .object({
    id: z.uuid(),
    organizationId: z.uuid(),
    name: z.string(),
    costCenter: z.string().nullable(),
    glCode: z.string().nullable(),
    createdAt: z.iso.datetime(),
  })
  .openapi('Department');

const params = z.object({ id: uuidParam('id') });
const tags = ['Organizations'];
const security = [{ bearer: [] }];

const createDepartmentRoute = createRoute({
  method: 'post',
  path: '/v1/organizations/{id}/departments',
  tags,
  security,
  summary: 'Add a department (cost center, GL code)',
  request: { params, body: jsonBody(CreateDepartmentSchema) },
  responses: { 201: jsonResponse('Created', DepartmentSchema), ...problemResponses(400, 401, 403, 404, 409) },
});

const listDepartmentsRoute = createRoute({
  method: 'get',
  path: '/v1/organizations/{id}/departments',
  tags,
  security,
  summary: "List an organization's departments",
  request: { params, query: PageQuerySchema },
  responses: { 200: jsonResponse('A page of departments', pageSchema(DepartmentSchema, 'DepartmentPage')), ...problemResponses(400, 401, 403, 404) },
});

const toDepartmentView = (department: Department) => ({
  id: department.id,
  organizationId: department.organization.id,
  name: department.name,
  costCenter: department.costCenter ?? null,
  glCode: department.glCode ?? null,
  createdAt: department.createdAt.toISOString(),
});

export function registerDepartments(app: OpenAPIHono<AppEnv>) {
  app.openapi(createDepartmentRoute, async (c) => {
    const { id } = c.req.valid('param');
    await requireOrganization(c, 'department.write', id);
    const body = c.req.valid('json');
    const { em } = c.var;
    if (await em.count(Department, { organization: id, name: body.name })) {
      throw new ApiError(409, 'department_name_taken', `The organization already has a department "${body.name}".`);
    }
    const department = em.create(Department, {
      id: crypto.randomUUID(),
      organization: em.getReference(Organization, id),
      name: body.name,
      costCenter: body.costCenter ?? null,
      glCode: body.glCode ?? null,
    });
    await em.flush();
    const view = toDepartmentView(department);
    audit(c, { action: 'department.created', organizationId: id, targetType: 'department', targetId: department.id, after: view });
    return c.json(view, 201);
  });

  app.openapi(listDepartmentsRoute, async (c) => {
    const { id } = c.req.valid('param');
    await requireOrganization(c, 'department.read', id);
    const { limit, cursor } = c.req.valid('query');
    const rows = await c.var.em.find(Department, { organization: id, ...afterCursor(cursor) }, { orderBy: pageOrder, limit: limit + 1 });
    return c.json(toPage(rows, limit, toDepartmentView), 200);
  });
}
