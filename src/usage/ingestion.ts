import type { EntityManager } from '@mikro-orm/postgresql';
import type { Client } from '@temporalio/client';
import type { Clock } from '../clock.js';
import { poolOf, type Orm } from '../db/orm.js';
import { InFlightBatcher, type BatchOutcome } from '../db/batcher.js';
import type { Logger } from '../logger.js';
import { UsageRefused, type UsageResult } from './failures.js';
import { GuardedWriteDeclined, batchCaller, ingest, type Caller, type IngestResult, type UsageAccess, type UsageEventInput } from './ingest.js';
import { ReferenceCache } from './reference-cache.js';
import type { BudgetWatcher } from '../budgets/watcher.js';

/** What a single event's request is answered with. */
export interface SingleEventOutcome {
  eventId: string;
  duplicate: boolean;
  subscriptionId?: string;
  periodStart?: string;
  periodEnd?: string;
}

/** What a batch request is answered with. */
export interface BatchRecorded {
  accepted: number;
  duplicates: number;
}

/** A transaction the caller owns (a request's, with its Idempotency-Key record), and what runs once it has committed. */
export interface CallerTransaction {
  em: EntityManager;
  afterCommit: (task: () => Promise<void>) => void;
}

interface Submission {
  event: UsageEventInput;
  access: UsageAccess;
}

export interface UsageIngestionDeps {
  orm: Orm;
  clock: Clock;
  temporal: Client;
  taskQueue: string;
  logger: Logger;
  budgetWatcher?: BudgetWatcher;
}

/** A refusal as a result; any other failure stays an error. */
async function answered<T>(record: () => Promise<T>): Promise<UsageResult<T>> {
  try {
    return { ok: true, value: await record() };
  } catch (error) {
    if (error instanceof UsageRefused) return { ok: false, failure: error.failure };
    throw error;
  }
}

const counted = (result: IngestResult): BatchRecorded => ({ accepted: result.accepted, duplicates: result.duplicates });

/**
 * The usage recorder: the reference cache every request shares, and group commit for single
 * events (`InFlightBatcher`). Requests that arrive while earlier groups are being written are
 * recorded together, so a busy API pays round trips and a commit (its fsync) per group rather
 * than per event. Every request is still answered only once its event is durable, and an idle API
 * writes each event at once.
 *
 * A group — and a batch (`recordBatch`) — is first recorded guarded (`ingest`): one read and one
 * write on the pool, no transaction to open and close; what the guarded write declines goes
 * through a transaction.
 * A group is all or nothing like a batch, but its events come from unrelated callers: when the
 * group is refused (one event invalid, over a hard limit, not visible to its caller), each event
 * is recorded on its own, so each request gets exactly the answer it would have got alone.
 *
 * Refusals are answered as results (`UsageResult`), never thrown; `recordIn`/`recordBatchIn`
 * record in a transaction the caller owns, which the caller rolls back on a refusal.
 */
export class UsageIngestion {
  readonly cache = new ReferenceCache();
  readonly #groups: InFlightBatcher<Submission, UsageResult<SingleEventOutcome>>;

  constructor(private readonly deps: UsageIngestionDeps) {
    // Two groups in flight measured best (one and four were slower: bench/usage-ingest.bench.ts).
    this.#groups = new InFlightBatcher({ maxInFlight: 2, maxBatch: 500, run: (group) => this.commitGroup(group) });
  }

  /** One event, committed with the group it arrives with. */
  record(event: UsageEventInput, access: UsageAccess): Promise<UsageResult<SingleEventOutcome>> {
    return this.#groups.submit({ event, access });
  }

  /** A batch's events, all or none, recorded as a group is (guarded first). */
  recordBatch(events: readonly UsageEventInput[], access: UsageAccess): Promise<UsageResult<BatchRecorded>> {
    return answered(async () => counted(await this.ingestGuarded(events, batchCaller(access))));
  }

  /** One event, in the caller's transaction. */
  recordIn(transaction: CallerTransaction, event: UsageEventInput, access: UsageAccess): Promise<UsageResult<SingleEventOutcome>> {
    return answered(async () => {
      const result = await ingest({ ...this.deps, ...transaction }, this.cache, [event], { accessOf: () => access, field: (_, name) => name });
      const row = result.rows[0];
      if (result.accepted === 0 || !row) return { eventId: event.eventId, duplicate: true };
      return { eventId: event.eventId, duplicate: false, subscriptionId: row.subscriptionId, periodStart: row.periodStart, periodEnd: row.periodEnd };
    });
  }

  /** A batch's events, all or none, in the caller's transaction. */
  recordBatchIn(transaction: CallerTransaction, events: readonly UsageEventInput[], access: UsageAccess): Promise<UsageResult<BatchRecorded>> {
    return answered(async () => counted(await ingest({ ...this.deps, ...transaction }, this.cache, events, batchCaller(access))));
  }

  private async commitGroup(group: Submission[]): Promise<BatchOutcome<UsageResult<SingleEventOutcome>>[]> {
    if (group.length > 1) {
      try {
        return (await this.commit(group)).map((value) => ({ ok: true, value: { ok: true, value } }));
      } catch {
        // Refused as a whole: each event alone below gets its own verdict.
      }
    }
    return Promise.all(
      group.map(async (submission): Promise<BatchOutcome<UsageResult<SingleEventOutcome>>> => {
        try {
          return { ok: true, value: await answered(async () => (await this.commit([submission]))[0]!) };
        } catch (error) {
          return { ok: false, error };
        }
      }),
    );
  }

  private async commit(group: readonly Submission[]): Promise<SingleEventOutcome[]> {
    const events = group.map((submission) => submission.event);
    const result = await this.ingestGuarded(events, { accessOf: (index) => group[index]!.access, field: (_, name) => name, reportEach: true });
    return events.map((event, index) => {
      const row = result.rows[index];
      if (!result.recorded![index] || !row) return { eventId: event.eventId, duplicate: true };
      return { eventId: event.eventId, duplicate: false, subscriptionId: row.subscriptionId, periodStart: row.periodStart, periodEnd: row.periodEnd };
    });
  }

  /** Guarded on the pool first; through a transaction when the guarded write declines. Runs the after-commit work of whichever committed. */
  private async ingestGuarded(events: readonly UsageEventInput[], caller: Caller): Promise<IngestResult> {
    const committed: (() => Promise<void>)[] = [];
    const scope = { ...this.deps, afterCommit: (task: () => Promise<void>) => void committed.push(task) };
    const em = this.deps.orm.em.fork();
    let result: IngestResult;
    try {
      result = await ingest({ ...scope, em }, this.cache, events, { ...caller, guarded: { pool: await poolOf(em) } });
    } catch (error) {
      if (!(error instanceof GuardedWriteDeclined)) throw error;
      committed.length = 0;
      result = await this.deps.orm.em.fork().transactional((tx) => ingest({ ...scope, em: tx }, this.cache, events, caller));
    }
    for (const task of committed) await task();
    return result;
  }
}
