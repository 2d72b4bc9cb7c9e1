import { ActivityFailure, ApplicationFailure } from '@temporalio/workflow';

/**
 * What the workflows that keep a row (`dispute:`, `contract:`) share: how their database steps
 * retry, one handler at a time, and an activity's refusal passed on as the update's own.
 */

const retry = { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute' } as const;

/** Reads the row the API wrote just before its transaction committed: it shows within moments, or never. */
export const loadRowOptions = { startToCloseTimeout: '30 seconds', retry: { ...retry, maximumAttempts: 10 } } as const;
/** Steps a timer or a saga needs done: short transactions, retried until they happen. */
export const stepOptions = { startToCloseTimeout: '30 seconds', retry } as const;
/** Steps an update asks for: a few tries, so an error retrying cannot mend fails that update instead of holding the workflow. */
export const updateStepOptions = { startToCloseTimeout: '30 seconds', retry: { ...retry, maximumAttempts: 5 } } as const;
/** A call to an outside service (Stripe), retried with backoff for about an hour with one idempotency key. */
export const outsideCallRetry = { ...retry, maximumInterval: '5 minutes', maximumAttempts: 20 } as const;

/**
 * Runs handlers' work one at a time, after `first` (the row's first read): each turn sees the
 * state the one before it left.
 */
export function turns(first: Promise<unknown>): <T>(work: () => Promise<T>) => Promise<T> {
  let tail: Promise<unknown> = first.catch(() => undefined);
  return <T>(work: () => Promise<T>) => {
    const turn = tail.then(work);
    tail = turn.catch(() => undefined);
    return turn;
  };
}

/** An activity's refusal of one of `types` is the update's own failure (the API answers it); anything else stays the activity's. */
export async function answering<T>(step: Promise<T>, types: readonly string[]): Promise<T> {
  try {
    return await step;
  } catch (error) {
    if (error instanceof ActivityFailure && error.cause instanceof ApplicationFailure && types.includes(error.cause.type ?? '')) throw error.cause;
    throw error;
  }
}
