import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import { Organization, paymentTermsValues } from '../db/entities/index.js';
import { workflowIds } from '../temporal/workflow-ids.js';
import type { billingCycle } from '../../workflows/index.js';
import type { AppEnv } from './context.js';
import { ApiError, problemResponses } from './problem.js';
import { jsonBody } from './schemas.js';

const CreateOrganizationSchema = z
  .strictObject({
    name: z.string().trim().min(1).max(200).openapi({ example: 'Acme Corp' }),
    currency: z.string().regex(/^[A-Z]{3}$/, 'an ISO 4217 code such as USD').openapi({ example: 'USD' }),
    parentId: z.uuid().optional(),
    billingEmail: z.email().max(320).optional(),
    taxRatePercent: z.number().min(0).max(100).multipleOf(0.0001, 'at most 4 decimal places').optional(),
    paymentTerms: z.enum(paymentTermsValues).optional(),
    netTermsDays: z.number().int().min(0).max(365).optional(),
    billingAnchorDay: z.number().int().min(1).max(31).optional(),
  })
  .openapi('CreateOrganization');

const OrganizationSchema = z
  .object({
    id: z.uuid(),
    name: z.string(),
    currency: z.string(),
    parentId: z.uuid().nullable(),
    billingEmail: z.string().nullable(),
    taxRatePercent: z.number(),
    paymentTerms: z.enum(paymentTermsValues),
    netTermsDays: z.number().int(),
    billingAnchorDay: z.number().int().nullable(),
    billingWorkflowId: z
      .string()
      .nullable()
      .openapi({ description: 'The `billing:<id>` workflow of a billing account; null for a child billed by its parent.' }),
    billingStartedAt: z.iso.datetime().nullable(),
    createdAt: z.iso.datetime(),
    updatedAt: z.iso.datetime(),
  })
  .openapi('Organization');

const OrganizationIdParams = z.object({
  id: z.uuid().openapi({ param: { name: 'id', in: 'path' } }),
});

const createOrganizationRoute = createRoute({
  method: 'post',
  path: '/v1/organizations',
  tags: ['Organizations'],
  summary: 'Create an organization (and start its billing workflow)',
  security: [{ bearer: [] }],
  request: { body: jsonBody(CreateOrganizationSchema) },
  responses: {
    201: { description: 'Created', content: { 'application/json': { schema: OrganizationSchema } } },
    ...problemResponses(400, 401, 422, 503),
  },
});

const getOrganizationRoute = createRoute({
  method: 'get',
  path: '/v1/organizations/{id}',
  tags: ['Organizations'],
  summary: 'Get an organization',
  security: [{ bearer: [] }],
  request: { params: OrganizationIdParams },
  responses: {
    200: { description: 'The organization', content: { 'application/json': { schema: OrganizationSchema } } },
    ...problemResponses(400, 401, 404, 503),
  },
});

function toOrganizationView(organization: Organization) {
  const parentId = organization.parent?.id ?? null;
  return {
    id: organization.id,
    name: organization.name,
    currency: organization.currency,
    parentId,
    billingEmail: organization.billingEmail ?? null,
    taxRatePercent: Number(organization.taxRatePercent),
    paymentTerms: organization.paymentTerms,
    netTermsDays: organization.netTermsDays,
    billingAnchorDay: organization.billingAnchorDay ?? null,
    billingWorkflowId: parentId === null ? workflowIds.billing(organization.id) : null,
    billingStartedAt: organization.billingStartedAt?.toISOString() ?? null,
    createdAt: organization.createdAt.toISOString(),
    updatedAt: organization.updatedAt.toISOString(),
  };
}

export function registerOrganizations(app: OpenAPIHono<AppEnv>) {
  app.openapi(createOrganizationRoute, async (c) => {
    const body = c.req.valid('json');
    const { temporal, config } = c.var;
    const organization = await c.var.orm.em.fork().transactional(async (em) => {
      const parent = body.parentId ? await em.findOne(Organization, { id: body.parentId }) : null;
      if (body.parentId && !parent) {
        throw new ApiError(422, 'parent_not_found', `No organization ${body.parentId} to be the parent.`);
      }
      const created = em.create(Organization, {
        id: crypto.randomUUID(),
        name: body.name,
        currency: body.currency,
        parent,
        billingEmail: body.billingEmail ?? null,
        taxRatePercent: String(body.taxRatePercent ?? 0),
        paymentTerms: body.paymentTerms ?? 'charge_automatically',
        netTermsDays: body.netTermsDays ?? 0,
        billingAnchorDay: body.billingAnchorDay ?? null,
      });
      await em.flush();
      if (!parent) {
        // Started before the commit: if Temporal refuses, the organization is rolled back
        // and the caller retries; nothing is left half-created.
        await temporal.workflow.start<typeof billingCycle>('billingCycle', {
          workflowId: workflowIds.billing(created.id),
          taskQueue: config.TEMPORAL_TASK_QUEUE,
          args: [{ organizationId: created.id }],
        });
      }
      return created;
    });
    return c.json(toOrganizationView(organization), 201);
  });

  app.openapi(getOrganizationRoute, async (c) => {
    const { id } = c.req.valid('param');
    const organization = await c.var.orm.em.fork().findOne(Organization, { id });
    if (!organization) throw new ApiError(404, 'organization_not_found', `No organization ${id}.`);
    return c.json(toOrganizationView(organization), 200);
  });
}
