/**
 * The floor under a decision for bench/approvals.bench.ts (bundled by it, never registered in
 * production): a workflow that answers a no-op update behind an accepting validator, so one update
 * costs what Temporal alone costs here — the client's call, the validator and the handler in a
 * workflow task, the update's completion — without the database or the API. It waits until the
 * benchmark's in-memory Temporal server stops.
 */
import { condition, defineUpdate, setHandler } from '@temporalio/workflow';

export const noopUpdate = defineUpdate<null>('noop');

export async function updateRoundTrip(): Promise<void> {
  setHandler(noopUpdate, () => null, { validator: () => undefined });
  await condition(() => false);
}
