import { describe, expect, it } from '@jest/globals';
import { InFlightBatcher, type BatchOutcome } from '../../src/db/batcher.js';

/** A batcher whose batches finish when the test says so; it records every batch it ran. */
function controlled(maxInFlight: number, maxBatch = 100) {
  const batches: number[][] = [];
  const releases: (() => void)[] = [];
  const batcher = new InFlightBatcher<number, number>({
    maxInFlight,
    maxBatch,
    run: async (items) => {
      batches.push(items);
      await new Promise<void>((resolve) => releases.push(resolve));
      if (items.includes(-1)) throw new Error('batch failed');
      return items.map((item): BatchOutcome<number> => (item === 13 ? { ok: false, error: new Error('unlucky') } : { ok: true, value: item * 2 }));
    },
  });
  const turn = () => new Promise((resolve) => setImmediate(resolve));
  /** Finishes the oldest batch in flight; the next batch is scheduled once its callers are answered, a turn later. */
  const releaseNext = async () => {
    releases.shift()!();
    await turn();
    await turn();
  };
  return { batcher, batches, releaseNext, turn };
}

describe('InFlightBatcher', () => {
  it('sends what arrives in one turn together, and what arrives while batches are in flight in the next batch', async () => {
    const { batcher, batches, releaseNext, turn } = controlled(1);
    const first = [1, 2, 3].map((item) => batcher.submit(item));
    await turn();
    const second = [4, 5].map((item) => batcher.submit(item));
    await turn();
    expect(batches).toEqual([[1, 2, 3]]);
    await releaseNext();
    expect(batches).toEqual([[1, 2, 3], [4, 5]]);
    await releaseNext();
    expect(await Promise.all([...first, ...second])).toEqual([2, 4, 6, 8, 10]);
  });

  it('runs at most maxInFlight batches of at most maxBatch items; a batch starts when an item arrives or a batch ends', async () => {
    const { batcher, batches, releaseNext, turn } = controlled(2, 2);
    const all = [1, 2, 3, 4, 5].map((item) => batcher.submit(item));
    await turn();
    expect(batches).toEqual([[1, 2]]);
    all.push(batcher.submit(6));
    await turn();
    expect(batches).toEqual([[1, 2], [3, 4]]);
    all.push(batcher.submit(7));
    await turn();
    expect(batches).toEqual([[1, 2], [3, 4]]);
    await releaseNext();
    expect(batches).toEqual([[1, 2], [3, 4], [5, 6]]);
    await releaseNext();
    expect(batches).toEqual([[1, 2], [3, 4], [5, 6], [7]]);
    await releaseNext();
    await releaseNext();
    expect(await Promise.all(all)).toEqual([2, 4, 6, 8, 10, 12, 14]);
  });

  it('rejects one item with its own error, and every item when the batch throws', async () => {
    const { batcher, releaseNext, turn } = controlled(1);
    const mixed = Promise.allSettled([7, 13].map((item) => batcher.submit(item)));
    await turn();
    await releaseNext();
    expect(await mixed).toEqual([
      { status: 'fulfilled', value: 14 },
      { status: 'rejected', reason: new Error('unlucky') },
    ]);
    const failing = Promise.allSettled([8, -1].map((item) => batcher.submit(item)));
    await turn();
    await releaseNext();
    expect(await failing).toEqual([
      { status: 'rejected', reason: new Error('batch failed') },
      { status: 'rejected', reason: new Error('batch failed') },
    ]);
  });
});
