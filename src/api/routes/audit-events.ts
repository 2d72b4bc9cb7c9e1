import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import { AuditEvent } from '../../db/entities/index.js';
import { requireGlobal, requireOrganization } from '../http/access.js';
import type { AppEnv } from '../http/context.js';
import { maxPageSize } from '../http/pagination.js';
import { ApiError, problemResponses } from '../http/problem.js';
import { jsonResponse } from '../http/schemas.js';

const AuditEventSchema = z
  .object({
    id: z.string(),
    occurredAt: z.iso.datetime(),
    actorType: z.string(),
    actorId: z.string(),
    organizationId: z.uuid().nullable(),
    action: z.string(),
    targetType: z.string(),
    targetId: z.string(),
    before: z.record(z.string(), z.unknown()).nullable(),
    after: z.record(z.string(), z.unknown()).nullable(),
    requestId: z.string(),
  })
  .openapi('AuditEvent');

const listAuditEventsRoute = createRoute({
  method: 'get',
  path: '/v1/audit-events',
  tags: ['Access'],
  security: [{ bearer: [] }],
  summary: 'The audit log, oldest first (`organizationId` narrows it to one organization)',
  request: {
    query: z.object({
      organizationId: z.uuid().optional(),
      limit: z.coerce.number().int().min(1).max(maxPageSize).default(50),
      cursor: z.string().regex(/^\d{1,19}$/, 'the nextCursor of the previous page').optional(),
    }),
  },
  responses: {
    200: jsonResponse('A page of audit events', z.object({ data: z.array(AuditEventSchema), nextCursor: z.string().nullable() }).openapi('AuditEventPage')),
    ...problemResponses(400, 401, 403, 404),
  },
});

const toAuditEventView = (event: AuditEvent) => ({
  id: event.id,
  occurredAt: event.occurredAt.toISOString(),
  actorType: event.actorType,
  actorId: event.actorId,
  organizationId: event.organizationId ?? null,
  action: event.action,
  targetType: event.targetType,
  targetId: event.targetId,
  before: event.before ?? null,
  after: event.after ?? null,
  requestId: event.requestId,
});

export function registerAuditEvents(app: OpenAPIHono<AppEnv>) {
  app.openapi(listAuditEventsRoute, async (c) => {
    const { organizationId, limit, cursor } = c.req.valid('query');
    if (organizationId) await requireOrganization(c, 'audit.read', organizationId);
    else requireGlobal(c, 'audit.read');
    if (cursor !== undefined && BigInt(cursor) > 9_223_372_036_854_775_807n) {
      throw new ApiError(400, 'cursor_invalid', 'The cursor is not one this API returned.');
    }
    // The id is a sequence, so it orders the log and serves as the cursor.
    const rows = await c.var.em.find(
      AuditEvent,
      { ...(organizationId ? { organizationId } : {}), ...(cursor ? { id: { $gt: cursor } } : {}) },
      { orderBy: { id: 'asc' }, limit: limit + 1 },
    );
    const items = rows.slice(0, limit);
    return c.json({ data: items.map(toAuditEventView), nextCursor: rows.length > limit ? (items.at(-1)?.id ?? null) : null }, 200);
  });
}
