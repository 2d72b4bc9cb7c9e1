import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import { Metric, aggregationValues } from '../../db/entities/index.js';
import { requireGlobal } from '../http/access.js';
import { audit } from '../http/audit.js';
import type { AppEnv } from '../http/context.js';
import { PageQuerySchema, afterCursor, pageOrder, pageSchema, toPage } from '../http/pagination.js';
import { ApiError, problemResponses } from '../http/problem.js';
import { codeSchema, jsonBody, jsonResponse } from '../http/schemas.js';
import { textSchema } from '../http/text.js';

const CreateMetricSchema = z
  .strictObject({
    code: codeSchema.openapi({ example: 'reports_generated' }),
    name: textSchema({ maxLength: 200 }),
    aggregation: z.enum(aggregationValues),
    field: z
      .string()
      .regex(/^[A-Za-z_][\w.]{0,127}$/, 'a property name')
      .optional()
      .openapi({ description: "The event property aggregated (sum, max, latest) or counted distinct (unique_count); a sum without one adds up the events' quantity." }),
  })
  .refine((metric) => metric.aggregation === 'count' || metric.aggregation === 'sum' || metric.field !== undefined, {
    path: ['field'],
    message: 'required for max, unique_count and latest',
  })
  .openapi('CreateMetric');

const MetricSchema = z
  .object({
    id: z.uuid(),
    code: z.string(),
    name: z.string(),
    aggregation: z.enum(aggregationValues),
    field: z.string().nullable(),
    createdAt: z.iso.datetime(),
  })
  .openapi('Metric');

const tags = ['Catalog'];
const security = [{ bearer: [] }];

const createMetricRoute = createRoute({
  method: 'post',
  path: '/v1/metrics',
  tags,
  security,
  summary: 'Define a billable metric',
  request: { body: jsonBody(CreateMetricSchema) },
  responses: { 201: jsonResponse('Created', MetricSchema), ...problemResponses(400, 401, 403, 409) },
});

const listMetricsRoute = createRoute({
  method: 'get',
  path: '/v1/metrics',
  tags,
  security,
  summary: 'List metrics',
  request: { query: PageQuerySchema },
  responses: { 200: jsonResponse('A page of metrics', pageSchema(MetricSchema, 'MetricPage')), ...problemResponses(400, 401, 403) },
});

const getMetricRoute = createRoute({
  method: 'get',
  path: '/v1/metrics/{code}',
  tags,
  security,
  summary: 'Get a metric',
  request: { params: z.object({ code: codeSchema.openapi({ param: { name: 'code', in: 'path' } }) }) },
  responses: { 200: jsonResponse('The metric', MetricSchema), ...problemResponses(400, 401, 403, 404) },
});

const toMetricView = (metric: Metric) => ({
  id: metric.id,
  code: metric.code,
  name: metric.name,
  aggregation: metric.aggregation,
  field: metric.field ?? null,
  createdAt: metric.createdAt.toISOString(),
});

export function registerMetrics(app: OpenAPIHono<AppEnv>) {
  app.openapi(createMetricRoute, async (c) => {
    requireGlobal(c, 'catalog.write');
    const body = c.req.valid('json');
    const { em } = c.var;
    if (await em.count(Metric, { code: body.code })) {
      throw new ApiError(409, 'metric_code_taken', `A metric with code "${body.code}" already exists.`);
    }
    const metric = em.create(Metric, { id: crypto.randomUUID(), code: body.code, name: body.name, aggregation: body.aggregation, field: body.field ?? null });
    await em.flush();
    const view = toMetricView(metric);
    audit(c, { action: 'metric.created', organizationId: null, targetType: 'metric', targetId: metric.id, after: view });
    return c.json(view, 201);
  });

  app.openapi(listMetricsRoute, async (c) => {
    requireGlobal(c, 'catalog.read');
    const { limit, cursor } = c.req.valid('query');
    const rows = await c.var.em.find(Metric, afterCursor(cursor), { orderBy: pageOrder, limit: limit + 1 });
    return c.json(toPage(rows, limit, toMetricView), 200);
  });

  app.openapi(getMetricRoute, async (c) => {
    requireGlobal(c, 'catalog.read');
    const { code } = c.req.valid('param');
    const metric = await c.var.em.findOne(Metric, { code });
    if (!metric) throw new ApiError(404, 'metric_not_found', `No metric "${code}".`);
    return c.json(toMetricView(metric), 200);
  });
}
