import type { Client } from '@temporalio/client';
import type { Clock } from '../clock.js';
import type { Config } from '../config.js';
import type { Orm } from '../db/orm.js';
import type { Logger } from '../logger.js';

/** A check `/readyz` runs; it resolves when the dependency answers and throws when it does not. */
export type ReadinessCheck = () => Promise<void>;

export interface AppDeps {
  config: Pick<Config, 'TEMPORAL_TASK_QUEUE' | 'LEDGERFLOW_ADMIN_KEY'>;
  orm: Orm;
  temporal: Client;
  clock: Clock;
  logger: Logger;
  readiness: Record<string, ReadinessCheck>;
}

export interface AppEnv {
  Variables: AppDeps & { requestId: string };
}
