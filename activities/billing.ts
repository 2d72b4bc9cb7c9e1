import { ApplicationFailure } from '@temporalio/activity';
import type Stripe from 'stripe';
import type { Clock } from '../src/clock.js';
import type { Orm } from '../src/db/orm.js';
import { recordBillingStart } from '../src/db/repositories/organizations.js';
import type { Logger } from '../src/logger.js';
import { withDomainFailures } from './domain-failures.js';

export interface BillingActivityDeps {
  orm: Orm;
  stripe: Stripe;
  clock: Clock;
  logger: Logger;
}

export function createBillingActivities({ orm, clock, logger }: BillingActivityDeps) {
  return withDomainFailures({
    /** Idempotent: a retry after success leaves the first timestamp in place. */
    async recordBillingCycleStarted(organizationId: string): Promise<string> {
      return orm.em.fork().transactional(async (em) => {
        const startedAt = await recordBillingStart(em, organizationId, clock.now());
        if (startedAt === null) {
          throw ApplicationFailure.retryable(`organization ${organizationId} is not visible yet`, 'OrganizationNotFound');
        }
        logger.info({ organizationId }, 'billing cycle started');
        return startedAt;
      });
    },
  });
}

export type BillingActivities = ReturnType<typeof createBillingActivities>;
