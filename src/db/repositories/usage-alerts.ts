import type { EntityManager } from '@mikro-orm/postgresql';
import { recordWebhookEvent } from './webhook-events.js';
import { linkCrossingEvents, recordCrossings, type ThresholdCrossing } from './usage.js';

export interface RaisedAlerts {
  /** Crossings recorded by this call, with their `usage.threshold_reached` event: dispatch these after commit. */
  raised: (ThresholdCrossing & { id: string; webhookEventId: string })[];
  /** Crossings another transaction had recorded already. */
  known: ThresholdCrossing[];
}

/**
 * Records quota thresholds reached, in the caller's transaction: the crossing row (unique per
 * subscription, metric, period and threshold — what makes an alert happen once) and its
 * `usage.threshold_reached` event in the webhook outbox.
 */
export async function raiseThresholdAlerts(
  em: EntityManager,
  crossings: readonly ThresholdCrossing[],
  metricCodes: ReadonlyMap<string, string>,
  at: Date,
): Promise<RaisedAlerts> {
  if (crossings.length === 0) return { raised: [], known: [] };
  const recorded = await recordCrossings(em, crossings, at);
  const identity = (crossing: ThresholdCrossing) =>
    `${crossing.subscriptionId} ${crossing.metricId} ${new Date(crossing.periodStart).toISOString()} ${crossing.threshold}`;
  const fresh = new Set(recorded.map(identity));
  const raised: RaisedAlerts['raised'] = [];
  for (const crossing of recorded) {
    const periodStart = new Date(crossing.periodStart).toISOString();
    const webhookEventId = await recordWebhookEvent(em, {
      organizationId: crossing.organizationId,
      type: 'usage.threshold_reached',
      data: {
        subscriptionId: crossing.subscriptionId,
        metricCode: metricCodes.get(crossing.metricId) ?? crossing.metricId,
        threshold: crossing.threshold,
        quota: crossing.quota,
        quantity: crossing.quantity,
        periodStart,
        periodEnd: new Date(crossing.periodEnd).toISOString(),
      },
      dedupeKey: `usage.threshold_reached:${crossing.subscriptionId}:${crossing.metricId}:${periodStart}:${crossing.threshold}`,
    });
    raised.push({ ...crossing, webhookEventId });
  }
  await linkCrossingEvents(
    em,
    raised.map((crossing) => ({ crossingId: crossing.id, webhookEventId: crossing.webhookEventId })),
  );
  return { raised, known: crossings.filter((crossing) => !fresh.has(identity(crossing))) };
}
