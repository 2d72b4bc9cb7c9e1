import { defineEntity, p } from '@mikro-orm/core';
import { Organization } from './organization.js';

/**
 * Where Ledgerflow delivers events, signed per Standard Webhooks. The signing secret must be
 * readable to sign, so it is stored; it is returned only when the endpoint is created.
 */
const WebhookEndpointSchema = defineEntity({
  name: 'WebhookEndpoint',
  tableName: 'webhook_endpoints',
  properties: {
    id: p.uuid().primary(),
    organization: () => p.manyToOne(Organization).nullable().deleteRule('cascade'),
    url: p.string().length(2048),
    events: p.array<string>(),
    secret: p.string().length(100),
    createdAt: p.datetime().onCreate(() => new Date()),
    disabledAt: p.datetime().nullable(),
  },
  indexes: [{ name: 'webhook_endpoints_organization_id_index', properties: ['organization'] }],
});

export class WebhookEndpoint extends WebhookEndpointSchema.class {}
WebhookEndpointSchema.setClass(WebhookEndpoint);
