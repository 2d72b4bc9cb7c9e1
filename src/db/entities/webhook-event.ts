import { defineEntity, p } from '@mikro-orm/core';
import { Organization } from './organization.js';
import { WebhookEndpoint } from './webhook-endpoint.js';

export const webhookDeliveryStatusValues = ['pending', 'succeeded', 'failed'] as const;
export type WebhookDeliveryStatus = (typeof webhookDeliveryStatusValues)[number];

/**
 * The transactional outbox: an event recorded in the same transaction as the change it reports
 * (src/webhooks/outbox.ts). `dispatchedAt` is set once its `webhook-event:<id>` workflow has
 * resolved the endpoints (or when it is recorded, if no endpoint receives it: no workflow is
 * started then); until then the dispatch sweep keeps starting that workflow.
 */
const WebhookEventSchema = defineEntity({
  name: 'WebhookEvent',
  tableName: 'webhook_events',
  properties: {
    id: p.uuid().primary(),
    /** The organization the event is about (its and its ancestors' endpoints receive it); null for a platform event. */
    organization: () => p.manyToOne(Organization).nullable().deleteRule('cascade'),
    /** Set for an event meant for one endpoint only (`webhook.test`). */
    endpoint: () => p.manyToOne(WebhookEndpoint).nullable().deleteRule('cascade'),
    type: p.string().length(100),
    payload: p.json<Record<string, unknown>>(),
    dedupeKey: p.string().length(300).unique('webhook_events_dedupe_key_unique'),
    createdAt: p.datetime(),
    dispatchedAt: p.datetime().nullable(),
  },
  indexes: [
    { name: 'webhook_events_organization_id_index', properties: ['organization'] },
    { name: 'webhook_events_endpoint_id_index', properties: ['endpoint'] },
    // The sweep's lookup: only undispatched events, oldest first.
    { name: 'webhook_events_undispatched_index', expression: 'create index "webhook_events_undispatched_index" on "webhook_events" ("created_at") where "dispatched_at" is null' },
  ],
});

export class WebhookEvent extends WebhookEventSchema.class {}
WebhookEventSchema.setClass(WebhookEvent);

/** The delivery log: one event to one endpoint, across all its attempts. */
const WebhookDeliverySchema = defineEntity({
  name: 'WebhookDelivery',
  tableName: 'webhook_deliveries',
  properties: {
    id: p.uuid().primary(),
    event: () => p.manyToOne(WebhookEvent).deleteRule('cascade'),
    endpoint: () => p.manyToOne(WebhookEndpoint).deleteRule('cascade'),
    status: p.enum(webhookDeliveryStatusValues),
    attempts: p.integer(),
    lastResponseStatus: p.integer().nullable(),
    lastError: p.string().length(1000).nullable(),
    createdAt: p.datetime(),
    lastAttemptAt: p.datetime().nullable(),
    /** When it succeeded or was given up. */
    completedAt: p.datetime().nullable(),
  },
  uniques: [{ name: 'webhook_deliveries_event_endpoint_unique', properties: ['event', 'endpoint'] }],
  indexes: [{ name: 'webhook_deliveries_endpoint_page_index', properties: ['endpoint', 'createdAt', 'id'] }],
  checks: [{ name: 'webhook_deliveries_attempts_non_negative', expression: '"attempts" >= 0' }],
});

export class WebhookDelivery extends WebhookDeliverySchema.class {}
WebhookDeliverySchema.setClass(WebhookDelivery);

/** One HTTP attempt of a delivery: what the receiver answered (or why there was no answer). */
const WebhookDeliveryAttemptSchema = defineEntity({
  name: 'WebhookDeliveryAttempt',
  tableName: 'webhook_delivery_attempts',
  properties: {
    id: p.bigint('string').primary().autoincrement(),
    delivery: () => p.manyToOne(WebhookDelivery).deleteRule('cascade'),
    attempt: p.integer(),
    attemptedAt: p.datetime(),
    responseStatus: p.integer().nullable(),
    error: p.string().length(1000).nullable(),
    durationMs: p.integer(),
  },
  uniques: [{ name: 'webhook_delivery_attempts_delivery_attempt_unique', properties: ['delivery', 'attempt'] }],
});

export class WebhookDeliveryAttempt extends WebhookDeliveryAttemptSchema.class {}
WebhookDeliveryAttemptSchema.setClass(WebhookDeliveryAttempt);
