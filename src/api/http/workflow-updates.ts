import { WorkflowUpdateRPCTimeoutOrCancelledError } from '@temporalio/client';
import type { Context } from 'hono';
import { configDefaults } from '../../config.js';
import type { AppEnv } from './context.js';

/** Where the result of an update shows once the workflow has answered it. */
export interface UpdateTarget {
  workflowId: string;
  /** Set when the caller's Idempotency-Key names the update: repeating the request finds it. */
  updateId?: string;
  /** The GET path that shows the result. */
  location: string;
}

/** An update the workflow did not answer within the deadline; it may still be applied (errors.ts answers 504). */
export class WorkflowUpdateTimeout extends Error {
  constructor(
    readonly target: UpdateTarget,
    readonly timeoutMs: number,
  ) {
    super(`${target.workflowId} did not answer within ${timeoutMs} ms`);
    this.name = 'WorkflowUpdateTimeout';
  }
}

/**
 * Sends an update (`send` calls `executeUpdate`) with a deadline of `WORKFLOW_UPDATE_TIMEOUT_MS`
 * on every Temporal call it makes, so a workflow that does not answer (no worker, a wedged step)
 * never holds the request: it fails with `WorkflowUpdateTimeout`.
 */
export async function sendWorkflowUpdate<T>(c: Context<AppEnv>, target: UpdateTarget, send: () => Promise<T>): Promise<T> {
  const timeoutMs = c.var.config.WORKFLOW_UPDATE_TIMEOUT_MS ?? configDefaults.WORKFLOW_UPDATE_TIMEOUT_MS;
  try {
    return await c.var.temporal.withDeadline(Date.now() + timeoutMs, send);
  } catch (error) {
    if (error instanceof WorkflowUpdateRPCTimeoutOrCancelledError) throw new WorkflowUpdateTimeout(target, timeoutMs);
    throw error;
  }
}
