import { defineEntity, p } from '@mikro-orm/core';

/**
 * The first response to a request sent with an `Idempotency-Key`, per caller. It is written in
 * the same transaction as the request's own changes, so it exists exactly when they do.
 */
const IdempotencyRecordSchema = defineEntity({
  name: 'IdempotencyRecord',
  tableName: 'idempotency_records',
  properties: {
    principalId: p.string().length(200).primary(),
    key: p.string().length(255).primary(),
    requestHash: p.string().length(64),
    responseStatus: p.integer(),
    responseBody: p.text(),
    responseContentType: p.string().length(200),
    createdAt: p.datetime(),
    expiresAt: p.datetime(),
  },
  indexes: [{ name: 'idempotency_records_expires_at_index', properties: ['expiresAt'] }],
});

export class IdempotencyRecord extends IdempotencyRecordSchema.class {}
IdempotencyRecordSchema.setClass(IdempotencyRecord);
