import { ApplicationFailure } from '@temporalio/activity';
import type Stripe from 'stripe';
import type { Clock } from '../src/clock.js';
import type { Orm } from '../src/db/orm.js';
import { Organization } from '../src/db/entities/index.js';
import type { Logger } from '../src/logger.js';

export interface BillingActivityDeps {
  orm: Orm;
  stripe: Stripe;
  clock: Clock;
  logger: Logger;
}

export function createBillingActivities({ orm, clock, logger }: BillingActivityDeps) {
  return {
    /** Idempotent: a retry after success leaves the first timestamp in place. */
    async recordBillingCycleStarted(organizationId: string): Promise<string> {
      return orm.em.fork().transactional(async (em) => {
        const organization = await em.findOne(Organization, { id: organizationId });
        if (!organization) {
          throw ApplicationFailure.retryable(`organization ${organizationId} is not visible yet`, 'OrganizationNotFound');
        }
        organization.billingStartedAt ??= clock.now();
        logger.info({ organizationId }, 'billing cycle started');
        return organization.billingStartedAt.toISOString();
      });
    },
  };
}

export type BillingActivities = ReturnType<typeof createBillingActivities>;
