import type { Context } from 'hono';
import { AuditEvent } from '../../db/entities/index.js';
import type { AppEnv } from './context.js';

export interface AuditEntry {
  action: string;
  organizationId: string | null;
  targetType: string;
  targetId: string;
  before?: object | null;
  after?: object | null;
}

/** Records a mutation in the request's transaction: it commits with the change, or not at all. */
export function audit(c: Context<AppEnv>, entry: AuditEntry): void {
  const { principal, requestId, clock, em } = c.var;
  em.create(AuditEvent, {
    occurredAt: clock.now(),
    actorType: principal.kind,
    actorId: principal.id,
    organizationId: entry.organizationId,
    action: entry.action,
    targetType: entry.targetType,
    targetId: entry.targetId,
    before: (entry.before ?? null) as Record<string, unknown> | null,
    after: (entry.after ?? null) as Record<string, unknown> | null,
    requestId,
  });
}
