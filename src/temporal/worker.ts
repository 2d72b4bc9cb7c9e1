import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker, type NativeConnection, type WorkerOptions } from '@temporalio/worker';
import { createActivities, type ActivityDeps } from '../../activities/index.js';

/** The workflows entrypoint: TypeScript source under tsx and jest, compiled JavaScript in dist/. */
export function workflowsPath(): string {
  const source = fileURLToPath(new URL('../../workflows/index.ts', import.meta.url));
  return existsSync(source) ? source : fileURLToPath(new URL('../../workflows/index.js', import.meta.url));
}

export interface CreateWorkerOptions {
  connection: NativeConnection;
  namespace: string;
  taskQueue: string;
  deps: ActivityDeps;
  shutdownGraceMs?: number;
  /** A pre-built bundle (tests bundle once per run); otherwise the workflows are bundled now. */
  workflowBundle?: WorkerOptions['workflowBundle'];
}

export async function createWorker(options: CreateWorkerOptions): Promise<Worker> {
  return Worker.create({
    connection: options.connection,
    namespace: options.namespace,
    taskQueue: options.taskQueue,
    activities: createActivities(options.deps),
    ...(options.workflowBundle ? { workflowBundle: options.workflowBundle } : { workflowsPath: workflowsPath() }),
    shutdownGraceTime: options.shutdownGraceMs ?? 30_000,
  });
}
