import { defineEntity, p } from '@mikro-orm/core';

/** One mutation: who did what to which object, with the object before and after. Append-only. */
const AuditEventSchema = defineEntity({
  name: 'AuditEvent',
  tableName: 'audit_events',
  properties: {
    id: p.bigint('string').primary().autoincrement(),
    occurredAt: p.datetime(),
    actorType: p.string().length(32),
    actorId: p.string().length(200),
    organizationId: p.uuid().nullable(),
    action: p.string().length(100),
    targetType: p.string().length(64),
    targetId: p.string().length(200),
    before: p.json<Record<string, unknown>>().nullable(),
    after: p.json<Record<string, unknown>>().nullable(),
    requestId: p.string().length(128),
  },
  indexes: [
    { name: 'audit_events_organization_id_index', properties: ['organizationId', 'id'] },
    { name: 'audit_events_target_index', properties: ['targetType', 'targetId'] },
  ],
  // Append-only for every connection, not only for this code (the migration also refuses
  // TRUNCATE, a statement trigger MikroORM's schema diff does not read back).
  triggers: [
    {
      name: 'audit_events_no_update_or_delete',
      timing: 'before',
      events: ['update', 'delete'],
      forEach: 'row',
      body: `raise exception 'audit_events is append-only' using errcode = 'insufficient_privilege';`,
    },
  ],
});

export class AuditEvent extends AuditEventSchema.class {}
AuditEventSchema.setClass(AuditEvent);
