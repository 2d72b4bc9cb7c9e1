import type { Client } from '@temporalio/client';
import type { Clock } from '../clock.js';
import { budgetsOf } from '../db/repositories/budgets.js';
import type { Orm } from '../db/orm.js';
import { formatDayOf } from '../domain/index.js';
import type { Logger } from '../logger.js';
import { dispatchWebhookEvents } from '../webhooks/outbox.js';
import { evaluateBudgets } from './tracking.js';

export interface BudgetWatcherDeps {
  orm: Orm;
  clock: Clock;
  temporal: Client;
  taskQueue: string;
  logger: Logger;
}

/**
 * Checks an organization's budgets promptly after something it buys changed (usage recorded, seats
 * or a plan changed), off the request's path: requests only mark the organization, one check at
 * a time runs per organization, and marks that arrive meanwhile make one more check after it. A
 * threshold fires once whatever the race (the alert's unique key); a check lost to a crash is
 * caught up by the daily usage processing.
 */
export class BudgetWatcher {
  readonly #running = new Map<string, Promise<void>>();
  readonly #again = new Set<string>();

  constructor(private readonly deps: BudgetWatcherDeps) {}

  touch(organizationIds: Iterable<string>): void {
    for (const organizationId of organizationIds) {
      if (this.#running.has(organizationId)) {
        this.#again.add(organizationId);
        continue;
      }
      this.#running.set(organizationId, this.#check(organizationId));
    }
  }

  /** Resolves once every check started so far (and those they queued) has finished. */
  async settled(): Promise<void> {
    while (this.#running.size > 0) await Promise.all(this.#running.values());
  }

  async #check(organizationId: string): Promise<void> {
    const { orm, clock, temporal, taskQueue, logger } = this.deps;
    try {
      do {
        this.#again.delete(organizationId);
        const em = orm.em.fork();
        const budgets = await budgetsOf(em, organizationId);
        if (budgets.length === 0) break;
        const now = clock.now();
        const eventIds = await em.transactional((tx) => evaluateBudgets(tx, budgets, formatDayOf(now.getTime()), now));
        await dispatchWebhookEvents({ temporal, taskQueue, orm, logger }, eventIds);
      } while (this.#again.has(organizationId));
    } catch (error) {
      logger.warn({ err: error, organizationId }, 'budgets not checked; the daily usage processing checks them');
    } finally {
      this.#running.delete(organizationId);
    }
  }
}
