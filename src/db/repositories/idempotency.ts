import type { EntityManager } from '@mikro-orm/postgresql';
import { sql } from '../sql.js';

/**
 * Takes the transaction-scoped advisory lock `lockId` (a signed 64-bit integer as text) if no
 * other transaction holds it; false when one does. Needs the caller's transaction: a pooled
 * connection outside it would release the lock at once.
 */
export async function tryLockIdempotencyKey(tx: EntityManager, lockId: string): Promise<boolean> {
  const [lock] = await sql<{ locked: boolean }>(tx, 'select pg_try_advisory_xact_lock($1::bigint) as locked', [lockId]);
  return lock?.locked === true;
}
