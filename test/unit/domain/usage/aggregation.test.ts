import { describe, expect, it } from '@jest/globals';
import { aggregateUsage, type MetricDefinition, type UsageEvent } from '../../../../src/domain/index.js';

const metrics: MetricDefinition[] = [
  { code: 'calls', aggregation: 'count' },
  { code: 'gb', aggregation: 'sum', field: 'gb' },
  { code: 'tokens', aggregation: 'sum' },
  { code: 'peak', aggregation: 'max', field: 'cpus' },
  { code: 'users', aggregation: 'unique_count', field: 'user' },
  { code: 'storage', aggregation: 'latest', field: 'bytes' },
];

const events: UsageEvent[] = [
  { eventId: 'e1', metricCode: 'calls', timestamp: '2027-01-01T00:00:00Z', subscriptionId: 's1', userId: 'u1', departmentId: 'd1' },
  { eventId: 'e2', metricCode: 'calls', timestamp: '2027-01-15T10:00:00Z', subscriptionId: 's1', userId: 'u2', departmentId: 'd2' },
  { eventId: 'e2', metricCode: 'calls', timestamp: '2027-01-15T10:00:00Z', subscriptionId: 's1', userId: 'u2', departmentId: 'd2' },
  { eventId: 'e3', metricCode: 'calls', timestamp: '2027-01-31T23:59:59.999Z', subscriptionId: 's1', userId: 'u1', departmentId: 'd1' },
  { eventId: 'e4', metricCode: 'calls', timestamp: '2027-02-01T00:00:00Z', subscriptionId: 's1', userId: 'u1' },
  { eventId: 'e5', metricCode: 'gb', timestamp: '2027-01-02T00:00:00Z', subscriptionId: 's1', properties: { gb: '1.25' } },
  { eventId: 'e6', metricCode: 'gb', timestamp: '2027-01-03T00:00:00Z', subscriptionId: 's1', properties: { gb: 2.5 } },
  { eventId: 'e7', metricCode: 'gb', timestamp: '2027-01-03T00:00:00Z', subscriptionId: 's1', properties: {} },
  { eventId: 'e8', metricCode: 'tokens', timestamp: '2027-01-03T00:00:00Z', subscriptionId: 's1', quantity: 700 },
  { eventId: 'e9', metricCode: 'tokens', timestamp: '2027-01-04T00:00:00Z', subscriptionId: 's1' },
  { eventId: 'e10', metricCode: 'peak', timestamp: '2027-01-04T00:00:00Z', subscriptionId: 's1', properties: { cpus: 4 } },
  { eventId: 'e11', metricCode: 'peak', timestamp: '2027-01-05T00:00:00Z', subscriptionId: 's1', properties: { cpus: '16' } },
  { eventId: 'e12', metricCode: 'peak', timestamp: '2027-01-06T00:00:00Z', subscriptionId: 's1', properties: { cpus: 8 } },
  { eventId: 'e13', metricCode: 'users', timestamp: '2027-01-06T00:00:00Z', subscriptionId: 's1', properties: { user: 'a' } },
  { eventId: 'e14', metricCode: 'users', timestamp: '2027-01-07T00:00:00Z', subscriptionId: 's1', properties: { user: 'b' } },
  { eventId: 'e15', metricCode: 'users', timestamp: '2027-01-08T00:00:00Z', subscriptionId: 's1', properties: { user: 'a' } },
  { eventId: 'e16', metricCode: 'storage', timestamp: '2027-01-09T00:00:00Z', subscriptionId: 's1', properties: { bytes: 300 } },
  { eventId: 'e18', metricCode: 'storage', timestamp: '2027-01-20T00:00:00Z', subscriptionId: 's1', properties: { bytes: 200 } },
  { eventId: 'e17', metricCode: 'storage', timestamp: '2027-01-10T00:00:00Z', subscriptionId: 's1', properties: { bytes: 900 } },
];

const january = { periodStart: '2027-01-01', periodEnd: '2027-02-01' };

describe('aggregateUsage', () => {
  it.each([
    ['calls', 'count', '3', 3],
    ['gb', 'sum of a field (events without it take no part)', '3.75', 2],
    ['tokens', 'sum of quantity (default 1)', '701', 2],
    ['peak', 'max', '16', 3],
    ['users', 'unique_count', '2', 3],
    ['storage', 'latest by timestamp', '200', 3],
  ])('%s: %s over January = %s from %i events', (metricCode, _aggregation, value, eventCount) => {
    const result = aggregateUsage(events, { metrics, ...january }).find((aggregate) => aggregate.metricCode === metricCode);
    expect(result).toEqual({ metricCode, ...january, group: {}, value, eventCount });
  });

  it('groups by subscription, user and department, counting a repeated eventId once', () => {
    const result = aggregateUsage(events, { metrics: [{ code: 'calls', aggregation: 'count' }], ...january, groupBy: ['departmentId', 'userId'] });
    expect(result.map((aggregate) => [aggregate.group, aggregate.value])).toEqual([
      [{ departmentId: 'd1', userId: 'u1' }, '2'],
      [{ departmentId: 'd2', userId: 'u2' }, '1'],
    ]);
  });

  it('includes an event at the window start and excludes one at its end', () => {
    const result = aggregateUsage(events, {
      metrics: [{ code: 'calls', aggregation: 'count' }],
      periodStart: '2027-02-01',
      periodEnd: '2027-03-01',
      groupBy: ['subscriptionId'],
    });
    expect(result).toEqual([
      { metricCode: 'calls', periodStart: '2027-02-01', periodEnd: '2027-03-01', group: { subscriptionId: 's1' }, value: '1', eventCount: 1 },
    ]);
  });

  it('breaks a tie on the latest timestamp by the greater eventId, whatever the input order', () => {
    const tied: UsageEvent[] = [
      { eventId: 'b', metricCode: 'storage', timestamp: '2027-01-09T00:00:00Z', properties: { bytes: 2 } },
      { eventId: 'a', metricCode: 'storage', timestamp: '2027-01-09T00:00:00Z', properties: { bytes: 1 } },
    ];
    const options = { metrics: [{ code: 'storage', aggregation: 'latest' as const, field: 'bytes' }], ...january };
    expect(aggregateUsage(tied, options)[0]?.value).toBe('2');
    expect(aggregateUsage([...tied].reverse(), options)[0]?.value).toBe('2');
  });

  it.each<[string, UsageEvent[], MetricDefinition[], string]>([
    ['non-numeric sum field', [{ eventId: 'x', metricCode: 'gb', timestamp: '2027-01-02T00:00:00Z', properties: { gb: 'lots' } }], metrics, 'INVALID_DECIMAL'],
    ['object unique field', [{ eventId: 'x', metricCode: 'users', timestamp: '2027-01-02T00:00:00Z', properties: { user: {} } }], metrics, 'INVALID_USAGE'],
    ['unique_count without field', [], [{ code: 'u', aggregation: 'unique_count' }], 'INVALID_USAGE'],
    ['unknown aggregation', [], [{ code: 'u', aggregation: 'median' as 'max' }], 'INVALID_USAGE'],
    ['bad timestamp', [{ eventId: 'x', metricCode: 'calls', timestamp: 'yesterday' }], metrics, 'INVALID_DATE'],
  ])('rejects %s', (_name, badEvents, badMetrics, code) => {
    expect(() => aggregateUsage(badEvents, { metrics: badMetrics, ...january })).toThrow(expect.objectContaining({ code }));
  });

  it('rejects an empty window', () => {
    expect(() => aggregateUsage(events, { metrics, periodStart: '2027-01-01', periodEnd: '2027-01-01' })).toThrow(
      expect.objectContaining({ code: 'INVALID_PERIOD' }),
    );
  });
});
