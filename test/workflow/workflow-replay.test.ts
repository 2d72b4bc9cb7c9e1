import { readFileSync, readdirSync } from 'node:fs';
import { describe, expect, it } from '@jest/globals';
import { temporal } from '@temporalio/proto';
import { DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import { sharedServer } from '../support/servers.js';
import { historiesDir } from './support/subscriptions.js';

interface RecordedHistory {
  workflowId: string;
  history: unknown;
}

const recorded = readdirSync(historiesDir)
  .filter((name) => name.endsWith('.json'))
  .sort()
  .map((name) => ({ name, ...(JSON.parse(readFileSync(new URL(name, historiesDir), 'utf8')) as RecordedHistory) }));

describe('recorded workflow histories', () => {
  it('has recorded histories to replay (npm run record:histories writes them)', () => {
    expect(recorded.map((entry) => entry.name)).toEqual(
      expect.arrayContaining([
        'cancel-at-period-end.json',
        'past-due-signal.json',
        'trial-to-active.json',
        'twelve-periods-first-run.json',
        'upgrade-mid-period.json',
        // Recorded before payment collection charged in its workflow task (-queue-charge), and before a
        // closing answered the next billing day: their patches keep them replaying. The others since
        // collection pauses for disputes (collection-pauses-for-disputes).
        'collection-declined-then-paid-queue-charge.json',
        'collection-paid-then-refunded-queue-charge.json',
        'collection-declined-then-paid.json',
        'collection-paid-then-refunded.json',
        // A dispute holding a dunning retry until it is withdrawn; a dispute withdrawn; one refunded.
        'collection-paused-by-dispute.json',
        'dispute-withdrawn.json',
        'dispute-refunded.json',
        // Contracts: a term renewed (the run before its continue-as-new), one expired, one terminated, one amended through approval.
        'contract-renewed.json',
        'contract-expired.json',
        'contract-terminated.json',
        'contract-amended.json',
        'billing-first-closing.json',
        // A closing the domain refuses, then a recovery (the billing-needs-attention patch).
        'billing-needs-attention.json',
        // Approvals: three levels with a quorum of 2, and a timeout escalating past the last level;
        // the -activity-writes pair was recorded before transitions were written in the workflow
        // task, the -activity-execution pair before the action was carried out there (the patches
        // approval-transitions-in-workflow-task and approval-execution-in-workflow-task keep them replaying).
        'approval-three-levels.json',
        'approval-escalation.json',
        'approval-three-levels-activity-writes.json',
        'approval-escalation-activity-writes.json',
        'approval-three-levels-activity-execution.json',
        'approval-escalation-activity-execution.json',
        // ERP sync: a push retried after the delays its attempts named; one waiting for its customer.
        'erp-retried-then-synced.json',
        'erp-waited-for-customer.json',
      ]),
    );
  });

  it('replays every recorded history with today\'s workflow code, so a non-deterministic change fails', async () => {
    Runtime.install({ logger: new DefaultLogger('ERROR') });
    const results = [];
    for await (const result of Worker.runReplayHistories(
      { workflowBundle: { codePath: sharedServer('workflowBundle') } },
      // Recorded with protobufjs's toJSON, so its fromObject is the exact inverse.
      recorded.map(({ workflowId, history }) => ({ workflowId, history: temporal.api.history.v1.History.fromObject(history as object) })),
    )) {
      results.push({ workflowId: result.workflowId, error: result.error?.message ?? null });
    }
    expect(results).toEqual(recorded.map(({ workflowId }) => ({ workflowId, error: null })));
  }, 120_000);
});
