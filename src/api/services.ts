import { BudgetWatcher } from '../budgets/watcher.js';
import { configDefaults } from '../config.js';
import { SeatVerdicts } from '../db/repositories/seats.js';
import { UsageIngestion } from '../usage/index.js';
import type { AppDeps } from './http/context.js';
import { RateLimiter } from './middleware/rate-limit.js';

/** What an API process keeps across requests: the batching readers and writers, and the rate limiters. */
export interface SharedServices {
  seatVerdicts: SeatVerdicts;
  budgetWatcher: BudgetWatcher;
  usageIngestion: UsageIngestion;
  rateLimiter: RateLimiter;
  /** Failed authentications per client address. */
  authFailures: RateLimiter;
}

/** One per process: the app and the fast lane in front of it share them (src/api/serve.ts). */
export function createSharedServices(deps: AppDeps): SharedServices {
  const watching = { orm: deps.orm, clock: deps.clock, temporal: deps.temporal, taskQueue: deps.config.TEMPORAL_TASK_QUEUE, logger: deps.logger };
  const budgetWatcher = new BudgetWatcher(watching);
  return {
    seatVerdicts: new SeatVerdicts(deps.orm),
    budgetWatcher,
    usageIngestion: new UsageIngestion({ ...watching, budgetWatcher }),
    rateLimiter: new RateLimiter(deps.config.RATE_LIMIT_PER_MINUTE),
    authFailures: new RateLimiter(
      deps.config.AUTH_FAILURE_LIMIT ?? configDefaults.AUTH_FAILURE_LIMIT,
      Date.now,
      (deps.config.AUTH_FAILURE_WINDOW_SECONDS ?? configDefaults.AUTH_FAILURE_WINDOW_SECONDS) * 1000,
    ),
  };
}
