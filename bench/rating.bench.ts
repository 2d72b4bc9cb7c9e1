/**
 * Rates 1,000,000 usage aggregates across mixed charge models on one core and compares the
 * throughput with plain integer arithmetic over the same data.
 *
 *   node --import tsx bench/rating.bench.ts [aggregates]
 */
import { compileCharge, rateAmount, rateExact, type Charge, type CompiledCharge } from '../src/domain/index.js';
import { seededRandom } from '../scripts/lib/prng.js';

const COUNT = Number(process.argv[2] ?? 1_000_000);
const BATCH = 1_000;
const ROUNDS = 5;

const charges: Charge[] = [
  { metricCode: 'api_calls', model: 'per_unit', unitPrice: '0.0015', included: 10_000 },
  { metricCode: 'seats_active', model: 'per_unit', unitPrice: '4.99', included: 2, allocation: 'per_seat' },
  {
    metricCode: 'tokens',
    model: 'graduated',
    tiers: [
      { upTo: 100_000, unitPrice: '0.00002', flatFee: 0 },
      { upTo: 1_000_000, unitPrice: '0.000015', flatFee: 500 },
      { upTo: null, unitPrice: '0.00001', flatFee: 1000 },
    ],
  },
  {
    metricCode: 'storage_gb',
    model: 'volume',
    tiers: [
      { upTo: 100, unitPrice: '0.25' },
      { upTo: 1000, unitPrice: '0.20', flatFee: 1000 },
      { upTo: null, unitPrice: '0.15', flatFee: 5000 },
    ],
  },
  { metricCode: 'sms', model: 'package', unitPrice: '9.00', packageSize: 1000, included: 100 },
  { metricCode: 'payments', model: 'percentage', rate: '2.9', fixedFee: '0.30' },
];

interface Aggregate {
  charge: CompiledCharge;
  units: number | string;
  events: number;
  seats: number;
}

function buildAggregates(count: number): { aggregates: Aggregate[]; numericUnits: Float64Array } {
  const next = seededRandom(42);
  const compiled = charges.map((charge) => compileCharge(charge, 'USD'));
  const aggregates: Aggregate[] = [];
  const numericUnits = new Float64Array(count);
  for (let index = 0; index < count; index += 1) {
    const model = index % compiled.length;
    const charge = compiled[model] as CompiledCharge;
    let units: number | string;
    switch (charge.charge.metricCode) {
      case 'storage_gb':
        // Sums of a decimal property, as JSON numbers with two places.
        units = Math.round(next() * 500_000) / 100;
        break;
      case 'payments':
        // Summed payment amounts in major units, as decimal strings.
        units = (Math.floor(next() * 10_000_000) / 100).toFixed(2);
        break;
      default:
        units = Math.floor(next() * 2_000_000);
    }
    aggregates.push({ charge, units, events: Math.floor(next() * 1000), seats: 1 + Math.floor(next() * 50) });
    numericUnits[index] = Number(units);
  }
  return { aggregates, numericUnits };
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

function now(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

/** Rates every aggregate, timing each batch; returns the checksum and per-batch ns/aggregate. */
function rateAll(aggregates: readonly Aggregate[]): { checksum: number; millis: number; batchNanos: number[] } {
  let checksum = 0;
  const batchNanos: number[] = [];
  const started = now();
  for (let offset = 0; offset < aggregates.length; offset += BATCH) {
    const batchStart = now();
    const end = Math.min(aggregates.length, offset + BATCH);
    for (let index = offset; index < end; index += 1) {
      const aggregate = aggregates[index] as Aggregate;
      checksum += rateAmount(aggregate.charge, aggregate.units, aggregate.events, aggregate.seats);
    }
    batchNanos.push(((now() - batchStart) * 1e6) / (end - offset));
  }
  return { checksum, millis: now() - started, batchNanos };
}

/** The baseline: one integer multiply-add-divide per aggregate over the same quantities. */
function integerBaseline(numericUnits: Float64Array): { checksum: number; millis: number } {
  let checksum = 0;
  const started = now();
  for (let index = 0; index < numericUnits.length; index += 1) {
    checksum += Math.floor(((numericUnits[index] as number) * 15 + 500) / 1000);
  }
  return { checksum, millis: now() - started };
}

function decimalOnly(aggregates: readonly Aggregate[]): { checksum: number; millis: number } {
  let checksum = 0;
  const started = now();
  for (const aggregate of aggregates) {
    checksum += rateExact(aggregate.charge, { units: aggregate.units, events: aggregate.events, seats: aggregate.seats }).amount;
  }
  return { checksum, millis: now() - started };
}

const { aggregates, numericUnits } = buildAggregates(COUNT);
rateAll(aggregates.slice(0, 100_000));
integerBaseline(numericUnits.subarray(0, 100_000));

const runs = Array.from({ length: ROUNDS }, () => rateAll(aggregates));
const baselines = Array.from({ length: ROUNDS }, () => integerBaseline(numericUnits));
const median = <T extends { millis: number }>(results: T[]): T =>
  [...results].sort((a, b) => a.millis - b.millis)[Math.floor(results.length / 2)] as T;
const rated = median(runs);
const baseline = median(baselines);

const sample = aggregates.slice(0, Math.min(100_000, COUNT));
const exact = decimalOnly(sample);
const fastOnSample = sample.reduce((sum, aggregate) => sum + rateAmount(aggregate.charge, aggregate.units, aggregate.events, aggregate.seats), 0);
if (fastOnSample !== exact.checksum) throw new Error(`fast path checksum ${fastOnSample} != decimal.js ${exact.checksum}`);
if (runs.some((run) => run.checksum !== rated.checksum)) throw new Error('rating is not deterministic');

const perSecond = (count: number, millis: number): number => Math.round((count / millis) * 1000);
const ratedPerSecond = perSecond(COUNT, rated.millis);
const baselinePerSecond = perSecond(COUNT, baseline.millis);
const batches = [...rated.batchNanos].sort((a, b) => a - b);

console.log(`rating ${COUNT.toLocaleString('en-US')} aggregates, ${charges.length} charges (per_unit ×2, graduated, volume, package, percentage), median of ${ROUNDS} runs, one core`);
console.table({
  'domain rateAmount': { 'aggregates/s': ratedPerSecond, 'ms': Math.round(rated.millis), 'checksum (minor units)': rated.checksum },
  'integer baseline': { 'aggregates/s': baselinePerSecond, 'ms': Math.round(baseline.millis), 'checksum (minor units)': baseline.checksum },
  'decimal.js only (100k sample)': { 'aggregates/s': perSecond(sample.length, exact.millis), 'ms': Math.round(exact.millis), 'checksum (minor units)': exact.checksum },
});
console.log(`ratio domain / integer baseline: ${(ratedPerSecond / baselinePerSecond).toFixed(4)} (baseline is ${(baselinePerSecond / ratedPerSecond).toFixed(1)}× faster)`);
console.log(
  `per-aggregate cost over ${batches.length} batches of ${BATCH}: p50 ${percentile(batches, 50).toFixed(0)} ns, p90 ${percentile(batches, 90).toFixed(0)} ns, p99 ${percentile(batches, 99).toFixed(0)} ns, max ${percentile(batches, 100).toFixed(0)} ns`,
);
console.log(`target ≥ 500,000 aggregates/s: ${ratedPerSecond >= 500_000 ? 'met' : 'NOT met'}`);
