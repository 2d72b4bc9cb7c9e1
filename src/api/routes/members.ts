import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import { Member, Organization, organizationRoleValues } from '../../db/entities/index.js';
import { requireOrganization } from '../http/access.js';
import { audit } from '../http/audit.js';
import type { AppEnv } from '../http/context.js';
import { PageQuerySchema, afterCursor, pageOrder, pageSchema, toPage } from '../http/pagination.js';
import { ApiError, problemResponses } from '../http/problem.js';
import { jsonBody, jsonResponse, uuidParam } from '../http/schemas.js';
import { textSchema } from '../http/text.js';

const CreateMemberSchema = z
  .strictObject({
    userId: textSchema({ maxLength: 200 }).openapi({ description: "The person's id: the `sub` of their JWT." }),
    email: z.email().max(320).optional(),
    role: z.enum(organizationRoleValues),
  })
  .openapi('CreateMember');

const MemberSchema = z
  .object({
    id: z.uuid(),
    organizationId: z.uuid(),
    userId: z.string(),
    email: z.string().nullable(),
    role: z.enum(organizationRoleValues),
    createdAt: z.iso.datetime(),
  })
  .openapi('Member');

const params = z.object({ id: uuidParam('id') });
const tags = ['Organizations'];
const security = [{ bearer: [] }];

const createMemberRoute = createRoute({
  method: 'post',
  path: '/v1/organizations/{id}/members',
  tags,
  security,
  summary: 'Give a person a role in the organization',
  request: { params, body: jsonBody(CreateMemberSchema) },
  responses: { 201: jsonResponse('Created', MemberSchema), ...problemResponses(400, 401, 403, 404, 409) },
});

const listMembersRoute = createRoute({
  method: 'get',
  path: '/v1/organizations/{id}/members',
  tags,
  security,
  summary: "List an organization's members",
  request: { params, query: PageQuerySchema },
  responses: { 200: jsonResponse('A page of members', pageSchema(MemberSchema, 'MemberPage')), ...problemResponses(400, 401, 403, 404) },
});

const toMemberView = (member: Member) => ({
  id: member.id,
  organizationId: member.organization.id,
  userId: member.userId,
  email: member.email ?? null,
  role: member.role,
  createdAt: member.createdAt.toISOString(),
});

export function registerMembers(app: OpenAPIHono<AppEnv>) {
  app.openapi(createMemberRoute, async (c) => {
    const { id } = c.req.valid('param');
    await requireOrganization(c, 'member.write', id);
    const body = c.req.valid('json');
    const { em } = c.var;
    if (await em.count(Member, { organization: id, userId: body.userId })) {
      throw new ApiError(409, 'member_exists', `User "${body.userId}" is already a member of this organization.`);
    }
    const member = em.create(Member, {
      id: crypto.randomUUID(),
      organization: em.getReference(Organization, id),
      userId: body.userId,
      email: body.email ?? null,
      role: body.role,
    });
    await em.flush();
    const view = toMemberView(member);
    audit(c, { action: 'member.created', organizationId: id, targetType: 'member', targetId: member.id, after: view });
    return c.json(view, 201);
  });

  app.openapi(listMembersRoute, async (c) => {
    const { id } = c.req.valid('param');
    await requireOrganization(c, 'member.read', id);
    const { limit, cursor } = c.req.valid('query');
    const rows = await c.var.em.find(Member, { organization: id, ...afterCursor(cursor) }, { orderBy: pageOrder, limit: limit + 1 });
    return c.json(toPage(rows, limit, toMemberView), 200);
  });
}
