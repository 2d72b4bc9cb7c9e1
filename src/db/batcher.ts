/** What one submitted item came to: its value, or the error its caller is rejected with. */
export type BatchOutcome<R> = { ok: true; value: R } | { ok: false; error: unknown };

interface Waiting<T, R> {
  item: T;
  resolve: (value: R) => void;
  reject: (error: unknown) => void;
}

/**
 * Batches work that arrives while earlier batches are in flight: at most `maxInFlight` batches run
 * at once, each with at most `maxBatch` items. A batch starts when an item arrives or a batch ends
 * and a slot is free, after that turn of the event loop, so items read in the same turn go together. An idle process runs an
 * item at once; under load one database round trip (or commit) serves many callers. `run` answers
 * for each item in order; if it throws, every item of the batch is rejected with that error.
 */
export class InFlightBatcher<T, R> {
  readonly #waiting: Waiting<T, R>[] = [];
  #inFlight = 0;
  #scheduled = false;

  constructor(private readonly options: { maxInFlight: number; maxBatch: number; run: (items: T[]) => Promise<BatchOutcome<R>[]> }) {}

  submit(item: T): Promise<R> {
    return new Promise((resolve, reject) => {
      this.#waiting.push({ item, resolve, reject });
      this.#schedule();
    });
  }

  #schedule(): void {
    if (this.#scheduled || this.#inFlight >= this.options.maxInFlight || this.#waiting.length === 0) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      void this.#runBatch();
    });
  }

  async #runBatch(): Promise<void> {
    if (this.#inFlight >= this.options.maxInFlight || this.#waiting.length === 0) return;
    const batch = this.#waiting.splice(0, this.options.maxBatch);
    this.#inFlight += 1;
    try {
      const outcomes = await this.options.run(batch.map((waiting) => waiting.item));
      batch.forEach((waiting, index) => {
        const outcome = outcomes[index]!;
        if (outcome.ok) waiting.resolve(outcome.value);
        else waiting.reject(outcome.error);
      });
    } catch (error) {
      for (const waiting of batch) waiting.reject(error);
    } finally {
      this.#inFlight -= 1;
      this.#schedule();
    }
  }
}
