import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import { Organization, paymentTermsValues } from '../../db/entities/index.js';
import { subtreeOf, type OrganizationNode } from '../../db/repositories/organizations.js';
import { currencyExponent } from '../../domain/index.js';
import { workflowIds } from '../../temporal/workflow-ids.js';
import type { billingCycle } from '../../../workflows/index.js';
import { requireGlobal, requireOrganization } from '../http/access.js';
import { audit } from '../http/audit.js';
import type { AppEnv } from '../http/context.js';
import { problemResponses } from '../http/problem.js';
import { currencySchema, jsonBody, jsonResponse, patchBody, uuidParam } from '../http/schemas.js';
import { textSchema } from '../http/text.js';

function isKnownCurrency(code: string): boolean {
  try {
    currencyExponent(code);
    return true;
  } catch {
    return false;
  }
}

const CreateOrganizationSchema = z
  .strictObject({
    name: textSchema({ maxLength: 200 }).openapi({ example: 'Acme Corp' }),
    currency: currencySchema.refine(isKnownCurrency, 'not an ISO 4217 currency Ledgerflow knows'),
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

const UpdateOrganizationSchema = z
  .strictObject({
    name: textSchema({ maxLength: 200 }),
    billingEmail: z.email().max(320).nullable(),
    taxRatePercent: z.number().min(0).max(100).multipleOf(0.0001, 'at most 4 decimal places'),
    paymentTerms: z.enum(paymentTermsValues),
    netTermsDays: z.number().int().min(0).max(365),
    billingAnchorDay: z.number().int().min(1).max(31).nullable(),
  })
  .partial()
  .openapi('UpdateOrganization');

interface HierarchyNode {
  id: string;
  name: string;
  children: HierarchyNode[];
}
// Named, so the generator can refer to the recursion instead of expanding it forever.
const HierarchyNodeSchema: z.ZodType<HierarchyNode> = z
  .object({ id: z.uuid(), name: z.string(), children: z.array(z.lazy(() => HierarchyNodeSchema)) })
  .openapi('OrganizationNode');

const OrganizationIdParams = z.object({ id: uuidParam('id') });

const createOrganizationRoute = createRoute({
  method: 'post',
  path: '/v1/organizations',
  tags: ['Organizations'],
  summary: 'Create an organization (and start its billing workflow)',
  security: [{ bearer: [] }],
  request: { body: jsonBody(CreateOrganizationSchema) },
  responses: {
    201: { description: 'Created', content: { 'application/json': { schema: OrganizationSchema } } },
    ...problemResponses(400, 401, 403, 404, 422, 503),
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
    ...problemResponses(400, 401, 403, 404, 503),
  },
});

const updateOrganizationRoute = createRoute({
  method: 'patch',
  path: '/v1/organizations/{id}',
  tags: ['Organizations'],
  summary: 'Update an organization',
  security: [{ bearer: [] }],
  request: { params: OrganizationIdParams, body: patchBody(UpdateOrganizationSchema) },
  responses: { 200: jsonResponse('The updated organization', OrganizationSchema), ...problemResponses(400, 401, 403, 404) },
});

const hierarchyRoute = createRoute({
  method: 'get',
  path: '/v1/organizations/{id}/hierarchy',
  tags: ['Organizations'],
  summary: 'The organization and every organization below it',
  security: [{ bearer: [] }],
  request: { params: OrganizationIdParams },
  responses: { 200: jsonResponse('The tree', HierarchyNodeSchema), ...problemResponses(400, 401, 403, 404) },
});

function toTree(nodes: OrganizationNode[]): HierarchyNode {
  const byId = new Map(nodes.map((node) => [node.id, { id: node.id, name: node.name, children: [] as HierarchyNode[] }]));
  for (const node of nodes.slice(1)) byId.get(node.parentId!)?.children.push(byId.get(node.id)!);
  return byId.get(nodes[0]!.id)!;
}

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
    const { temporal, config, em } = c.var;
    if (body.parentId) await requireOrganization(c, 'organization.createChild', body.parentId);
    else requireGlobal(c, 'organization.create');
    const parent = body.parentId ? em.getReference(Organization, body.parentId) : null;
    const organization = em.create(Organization, {
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
    const view = toOrganizationView(organization);
    audit(c, { action: 'organization.created', organizationId: organization.id, targetType: 'organization', targetId: organization.id, after: view });
    if (!parent) {
      // Started before the request's transaction commits: if Temporal refuses, the organization
      // is rolled back and the caller retries; nothing is left half-created.
      await temporal.workflow.start<typeof billingCycle>('billingCycle', {
        workflowId: workflowIds.billing(organization.id),
        taskQueue: config.TEMPORAL_TASK_QUEUE,
        args: [{ organizationId: organization.id }],
      });
    }
    return c.json(view, 201);
  });

  app.openapi(getOrganizationRoute, async (c) => {
    const { id } = c.req.valid('param');
    await requireOrganization(c, 'organization.read', id);
    return c.json(toOrganizationView(await c.var.em.findOneOrFail(Organization, { id })), 200);
  });

  app.openapi(updateOrganizationRoute, async (c) => {
    const { id } = c.req.valid('param');
    await requireOrganization(c, 'organization.update', id);
    const { taxRatePercent, ...changes } = c.req.valid('json');
    const organization = await c.var.em.findOneOrFail(Organization, { id });
    const before = toOrganizationView(organization);
    c.var.em.assign(organization, { ...changes, ...(taxRatePercent === undefined ? {} : { taxRatePercent: String(taxRatePercent) }) });
    await c.var.em.flush();
    const after = toOrganizationView(organization);
    audit(c, { action: 'organization.updated', organizationId: id, targetType: 'organization', targetId: id, before, after });
    return c.json(after, 200);
  });

  app.openapi(hierarchyRoute, async (c) => {
    const { id } = c.req.valid('param');
    await requireOrganization(c, 'organization.read', id);
    return c.json(toTree(await subtreeOf(c.var.em, id)), 200);
  });
}
