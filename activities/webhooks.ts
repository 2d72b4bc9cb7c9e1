import { ApplicationFailure, Context } from '@temporalio/activity';
import { Webhook } from 'standardwebhooks';
import type { Clock } from '../src/clock.js';
import type { Orm } from '../src/db/orm.js';
import {
  markWebhookDeliveryFailed,
  recordWebhookAttempt,
  resolveWebhookEventDeliveries,
  staleUndispatchedWebhookEventIds,
  webhookDelivery,
} from '../src/db/repositories/webhook-events.js';
import type { Logger } from '../src/logger.js';
import { dispatchWebhookEvents } from '../src/webhooks/outbox.js';
import { postToPinnedAddresses } from '../src/webhooks/pinned-post.js';
import { resolveWebhookTarget, WebhookTargetRefusedError, type HostResolver } from '../src/webhooks/targets.js';
import type { WebhookDeliveryPlan } from '../workflows/messages/webhook-delivery.js';

/**
 * Exponential backoff of one delivery: 10 s, 20 s, 40 s … capped at 1 h; 80 attempts span
 * about 3 days (≈ 71 h) before the delivery is marked failed.
 */
export const defaultWebhookRetry: WebhookDeliveryPlan['retry'] = {
  initialIntervalMs: 10_000,
  backoffCoefficient: 2,
  maximumIntervalMs: 60 * 60 * 1000,
  maximumAttempts: 80,
};

/** A receiver that has not answered after this long is a failed attempt. */
const requestTimeoutMs = 10_000;
/** Events younger than this are left to the dispatch their own transaction makes after commit. */
const sweepMinimumAge = '30 seconds';
const sweepBatchSize = 500;

export interface WebhookActivityDeps {
  orm: Orm;
  logger: Logger;
  clock: Clock;
  /**
   * Development only (`WEBHOOK_ALLOW_PRIVATE_TARGETS`): deliver to `http://` URLs and to loopback and
   * private addresses. Off, such a delivery is refused without a request.
   */
  allowPrivateWebhookTargets?: boolean;
  /** Resolves endpoint host names at each delivery (the system resolver by default). */
  resolveHost?: HostResolver;
  /** Overrides the retry schedule (tests use intervals of milliseconds). */
  webhookRetry?: WebhookDeliveryPlan['retry'];
}

/** Rejects when `signal` aborts: bounds a step that cannot be cancelled itself (a DNS lookup). */
const abortion = (signal: AbortSignal) =>
  new Promise<never>((_resolve, reject) => signal.addEventListener('abort', () => reject(signal.reason as Error), { once: true }));

const truncate = (text: string, length: number) => (text.length > length ? `${text.slice(0, length - 1)}…` : text);

export function createWebhookActivities({
  orm,
  logger,
  clock,
  allowPrivateWebhookTargets = false,
  resolveHost,
  webhookRetry = defaultWebhookRetry,
}: WebhookActivityDeps) {
  const targetPolicy = { allowPrivate: allowPrivateWebhookTargets, ...(resolveHost ? { resolveHost } : {}) };

  return {
    /**
     * The first step of `webhook-event:<id>`. On the event's first resolution it creates one
     * pending delivery per matching endpoint and marks the event dispatched; it returns the
     * deliveries still pending (all of them, unless this is a later run of the same event).
     *
     * Matching endpoints are enabled and subscribed to the type (exactly, `prefix.*` or `*`), and
     * belong to the event's organization, one of its ancestors (a parent is billed for and
     * manages its children) or the platform (organization null: the operator sees every event).
     * An event recorded for one endpoint (`webhook.test`) goes to that endpoint only.
     */
    async resolveWebhookDeliveries(eventId: string): Promise<WebhookDeliveryPlan> {
      return orm.em.fork().transactional(async (em) => {
        const pending = await resolveWebhookEventDeliveries(em, eventId, clock.now());
        if (!pending) throw ApplicationFailure.retryable(`webhook event ${eventId} is not visible (yet)`, 'WebhookEventNotFound');
        logger.info({ eventId, deliveries: pending.length }, 'webhook event resolved');
        return { deliveryIds: pending, retry: webhookRetry };
      });
    },

    /**
     * One signed POST of the event to one endpoint. The body is the same on every attempt and
     * `webhook-id` is the event id, so a receiver dedupes retries; the signature is made at each
     * attempt with that attempt's timestamp. A 2xx answer succeeds; anything else is recorded
     * and thrown, so Temporal retries it on the delivery's backoff. The host is resolved here and
     * every address checked (DNS may have changed since registration); the request connects only
     * to those addresses. A refused target is recorded and thrown as non-retryable: asking again
     * would be refused again.
     */
    async deliverWebhook(deliveryId: string): Promise<void> {
      const delivery = await webhookDelivery(orm.em.fork(), deliveryId);
      if (!delivery || delivery.status !== 'pending') return;
      if (delivery.disabled_at !== null) {
        throw ApplicationFailure.nonRetryable(`webhook endpoint was disabled`, 'WebhookEndpointDisabled');
      }
      const body = JSON.stringify({
        id: delivery.event_id,
        type: delivery.type,
        createdAt: new Date(delivery.created_at).toISOString(),
        organizationId: delivery.organization_id,
        data: delivery.payload,
      });
      const attemptedAt = clock.now();
      const signature = new Webhook(delivery.secret).sign(delivery.event_id, attemptedAt, body);
      const started = performance.now();
      let responseStatus: number | null = null;
      let error: string | null = null;
      let refused = false;
      try {
        const url = new URL(delivery.url);
        const signal = AbortSignal.any([AbortSignal.timeout(requestTimeoutMs), Context.current().cancellationSignal]);
        const addresses = await Promise.race([resolveWebhookTarget(url, targetPolicy), abortion(signal)]);
        responseStatus = await postToPinnedAddresses({
          url,
          addresses,
          headers: {
            'content-type': 'application/json',
            'user-agent': 'Ledgerflow-Webhooks/1',
            'webhook-id': delivery.event_id,
            'webhook-timestamp': String(Math.floor(attemptedAt.getTime() / 1000)),
            'webhook-signature': signature,
          },
          body,
          signal,
        });
        // A redirect fails too: it is an answer to fix at the endpoint, not a place to send signed events.
        if (responseStatus < 200 || responseStatus > 299) error = `endpoint answered HTTP ${responseStatus}`;
      } catch (failure) {
        refused = failure instanceof WebhookTargetRefusedError;
        const described = failure instanceof Error ? (refused ? failure.message : `${failure.name}: ${failure.message}`) : String(failure);
        error = truncate(described, 1000);
      }
      const attempt = await orm.em.fork().transactional((em) => recordWebhookAttempt(em, deliveryId, {
        attemptedAt,
        succeeded: error === null,
        responseStatus,
        error,
        durationMs: Math.round(performance.now() - started),
      }));
      logger.info({ deliveryId, eventId: delivery.event_id, attempt, responseStatus, error }, 'webhook delivery attempted');
      if (error !== null) {
        throw refused ? ApplicationFailure.nonRetryable(error, 'WebhookTargetRefused') : ApplicationFailure.retryable(error, 'WebhookDeliveryFailed');
      }
    },

    /** The last step of a delivery whose retries are exhausted (or whose endpoint was disabled, or target refused). */
    async markWebhookDeliveryFailed(deliveryId: string, reason: string): Promise<void> {
      await orm.em.fork().transactional(async (em) => {
        await markWebhookDeliveryFailed(em, deliveryId, truncate(reason, 1000), clock.now());
      });
      logger.warn({ deliveryId, reason }, 'webhook delivery failed');
    },

    /**
     * The sweep: starts `webhook-event:<id>` for events committed a while ago and still not
     * dispatched (the process died after the commit, or Temporal was unreachable then). A
     * workflow already started for one of them is skipped by its id.
     */
    async dispatchUndispatchedWebhookEvents(): Promise<number> {
      const events = await orm.em.fork().transactional(async (em) => staleUndispatchedWebhookEventIds(em, sweepMinimumAge, sweepBatchSize));
      const { client, info } = Context.current();
      await dispatchWebhookEvents(
        { temporal: client, taskQueue: info.taskQueue, orm, logger },
        events,
      );
      if (events.length) logger.info({ events: events.length }, 'webhook dispatch sweep started undispatched events');
      return events.length;
    },
  };
}

export type WebhookActivities = ReturnType<typeof createWebhookActivities>;
