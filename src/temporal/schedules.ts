import { ScheduleAlreadyRunning, type Client, type ScheduleOptions, type ScheduleOverlapPolicy, type ScheduleSpec } from '@temporalio/client';

/** One Temporal Schedule that starts a workflow (with no arguments unless given) on the worker's task queue. */
export interface ScheduleDefinition {
  scheduleId: string;
  spec: ScheduleSpec;
  workflowType: string;
  args?: unknown[];
  /** What happens when a run is still going at the next tick; the default skips the tick. */
  overlap?: ScheduleOverlapPolicy;
}

/** The schedules every deployment runs, created or brought up to date at worker start. */
export const ledgerflowSchedules: ScheduleDefinition[] = [
  // Outbox safety net: dispatches webhook events whose post-commit dispatch never happened.
  { scheduleId: 'webhook-dispatch-sweep', spec: { intervals: [{ every: '1 minute' }] }, workflowType: 'webhookDispatchSweep' },
  // Usage upkeep at 00:15 UTC, after the day's periods turned over: partitions, aggregate checks, missed alerts.
  { scheduleId: 'usage-daily', spec: { calendars: [{ hour: 0, minute: 15 }] }, workflowType: 'usageDailyProcessing' },
];

function scheduleOptions(definition: ScheduleDefinition, taskQueue: string): ScheduleOptions {
  return {
    scheduleId: definition.scheduleId,
    spec: definition.spec,
    action: { type: 'startWorkflow', workflowType: definition.workflowType, workflowId: definition.scheduleId, taskQueue, args: definition.args ?? [] },
    policies: { overlap: definition.overlap ?? 'SKIP' },
  };
}

/**
 * Creates each schedule, or updates an existing one to this definition (a new spec, workflow
 * or task queue), so every worker start converges on the same schedules whatever ran before.
 */
export async function ensureSchedules(client: Client, taskQueue: string, definitions: ScheduleDefinition[] = ledgerflowSchedules): Promise<void> {
  for (const definition of definitions) {
    const options = scheduleOptions(definition, taskQueue);
    try {
      await client.schedule.create(options);
    } catch (error) {
      if (!(error instanceof ScheduleAlreadyRunning)) throw error;
      await client.schedule.getHandle(definition.scheduleId).update((previous) => ({
        ...previous,
        spec: options.spec,
        action: options.action,
        policies: { ...previous.policies, ...options.policies },
      }));
    }
  }
}
