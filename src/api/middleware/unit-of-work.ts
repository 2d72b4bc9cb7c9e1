import { createHash } from 'node:crypto';
import type { Context, MiddlewareHandler } from 'hono';
import { matchedRoutes } from 'hono/route';
import { IdempotencyRecord } from '../../db/entities/index.js';
import { tryLockIdempotencyKey } from '../../db/repositories/idempotency.js';
import { MS_PER_DAY } from '../../domain/index.js';
import { comparableBody } from '../http/canonical-json.js';
import type { AppEnv } from '../http/context.js';
import { ApiError } from '../http/problem.js';

const keepIdempotencyMs = MS_PER_DAY;
const readMethods = new Set(['GET', 'HEAD', 'OPTIONS']);

/** How a POST route commits when it does not run in the unit of work's transaction. */
type OwnCommit = 'reads-only' | 'commits-itself' | 'waits-on-workflow';
const ownCommits = new Map<MiddlewareHandler<AppEnv>, OwnCommit>();

/**
 * A marker a route module puts in its route's `middleware` (createRoute): it does nothing itself,
 * the unit of work finds it among the request's matched handlers.
 */
function ownCommit(kind: OwnCommit): MiddlewareHandler<AppEnv> {
  const marker: MiddlewareHandler<AppEnv> = (_c, next) => next();
  ownCommits.set(marker, kind);
  return marker;
}

/**
 * A POST that only reads (a query body too large or too private for a URL): no transaction, no
 * idempotency record, and no `em` — it forks one itself if it needs it.
 */
export const readsOnly = ownCommit('reads-only');
/**
 * A POST that commits its own work when no Idempotency-Key asks for a stored response (a single
 * usage event joins a group commit shared with concurrent requests; a batch of usage events is
 * recorded the same way, in one guarded write). With a key, it runs in the unit of work.
 */
export const commitsItselfWithoutIdempotencyKey = ownCommit('commits-itself');
/**
 * A POST that waits on a workflow's answer (up to WORKFLOW_UPDATE_TIMEOUT_MS): it runs on a plain
 * fork, so no connection sits in an open transaction meanwhile, and what it persisted (the audit
 * row) is flushed in one short transaction once it answered with a success. The workflow's work is
 * idempotent on its own (a billing day closed again answers the same invoice), so it keeps no
 * idempotency record.
 */
export const waitsOnWorkflow = ownCommit('waits-on-workflow');

function ownCommitOf(c: Context<AppEnv>): OwnCommit | undefined {
  if (c.req.method !== 'POST') return undefined;
  for (const route of matchedRoutes(c)) {
    const kind = ownCommits.get(route.handler as MiddlewareHandler<AppEnv>);
    if (kind !== undefined) return kind;
  }
  return undefined;
}

const leftOutside = (c: Context<AppEnv>, kind: OwnCommit | undefined) =>
  kind === 'reads-only' || (kind === 'commits-itself' && c.req.header('idempotency-key') === undefined);

/** Whether this request was left to commit its own work: no transaction, no `em`. */
export function outsideUnitOfWork(c: Context<AppEnv>): boolean {
  return leftOutside(c, ownCommitOf(c));
}

class RollBack extends Error {}

/** A signed 64-bit advisory-lock id for one caller's idempotency key. */
function lockId(principalId: string, key: string): string {
  return createHash('sha256').update(`${principalId}\n${key}`).digest().readBigInt64BE().toString();
}

/** The response body to keep for replays: secrets that are shown once are left out. */
function withoutShownOnceFields(body: string, fields: readonly string[] | undefined): string {
  if (!fields?.length) return body;
  const kept = JSON.parse(body) as Record<string, unknown>;
  for (const field of fields) delete kept[field];
  return JSON.stringify(kept);
}

/**
 * Each mutation runs in one transaction: its rows, its audit events and its idempotency record
 * commit together, and a failed request (any 4xx or 5xx) writes nothing.
 *
 * With `Idempotency-Key`, the same key and body (as parsed JSON: spacing and key order aside)
 * replay the stored first response; the same key with another body is a 422; the same key while
 * the first request is still running is a 409 (a transaction-scoped advisory lock tells, without
 * waiting).
 */
export function unitOfWork(): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const kind = ownCommitOf(c);
    // Seat verification reads, and usage events commit, through their own batches.
    if (leftOutside(c, kind)) return next();
    const em = c.get('orm').em.fork();
    const committed: (() => Promise<void>)[] = [];
    c.set('afterCommit', (task) => void committed.push(task));
    if (readMethods.has(c.req.method)) {
      c.set('em', em);
      return next();
    }
    if (kind === 'waits-on-workflow') {
      c.set('em', em);
      await next();
      if (c.error || c.res.status >= 400) return;
      await em.flush();
      for (const task of committed) await task();
      return;
    }
    const key = c.req.header('idempotency-key');
    if (key !== undefined && !/^[\x21-\x7e]{1,255}$/.test(key)) {
      throw new ApiError(400, 'idempotency_key_invalid', 'Idempotency-Key must be 1 to 255 visible ASCII characters.');
    }
    const principalId = c.var.principal.id;
    let replay: Response | undefined;
    try {
      await em.transactional(async (tx) => {
        c.set('em', tx);
        let requestHash = '';
        if (key !== undefined) {
          if (!(await tryLockIdempotencyKey(tx, lockId(principalId, key)))) {
            throw new ApiError(409, 'idempotency_key_in_flight', 'A request with this Idempotency-Key is still being processed.');
          }
          requestHash = createHash('sha256')
            .update(`${c.req.method} ${c.req.path}\n${comparableBody(await c.req.text())}`)
            .digest('hex');
          const now = c.var.clock.now();
          const first = await tx.findOne(IdempotencyRecord, { principalId, key });
          if (first && first.expiresAt > now) {
            if (first.requestHash !== requestHash) {
              throw new ApiError(422, 'idempotency_key_reused', 'This Idempotency-Key was used with a different request.');
            }
            replay = new Response(first.responseBody, {
              status: first.responseStatus,
              // Set here: headers set with c.header() are not carried onto an assigned c.res.
              headers: { 'content-type': first.responseContentType, 'idempotent-replayed': 'true', 'x-request-id': c.var.requestId },
            });
            return;
          }
          if (first) tx.remove(first);
        }
        await next();
        if (c.error || c.res.status >= 400) throw new RollBack();
        if (key !== undefined) {
          const now = c.var.clock.now();
          tx.create(IdempotencyRecord, {
            principalId,
            key,
            requestHash,
            responseStatus: c.res.status,
            responseBody: withoutShownOnceFields(await c.res.clone().text(), c.get('shownOnceFields')),
            responseContentType: c.res.headers.get('content-type') ?? 'application/json',
            createdAt: now,
            expiresAt: new Date(now.getTime() + keepIdempotencyMs),
          });
        }
      });
    } catch (error) {
      if (!(error instanceof RollBack)) throw error;
      return;
    }
    if (replay) {
      c.res = replay;
      return;
    }
    for (const task of committed) await task();
  };
}
