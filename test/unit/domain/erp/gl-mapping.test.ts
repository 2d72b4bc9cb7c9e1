import { describe, expect, it } from '@jest/globals';
import {
  DomainError,
  describeGlSubject,
  resolveGlAccount,
  validateGlMappings,
  type GlMapping,
  type GlSubject,
} from '../../../../src/domain/index.js';

const revenue = (subject: Omit<GlSubject, 'kind'> = {}): GlSubject => ({ kind: 'revenue', ...subject });

describe('resolveGlAccount', () => {
  const mappings: GlMapping[] = [
    { kind: 'revenue', account: '4000' },
    { kind: 'revenue', departmentId: 'eng', account: '4000-ENG' },
    { kind: 'revenue', planCode: 'team', account: '4100' },
    { kind: 'revenue', planCode: 'team', departmentId: 'eng', account: '4100-ENG' },
    { kind: 'revenue', metricCode: 'api_calls', account: '4200' },
    { kind: 'revenue', metricCode: 'api_calls', departmentId: 'sales', account: '4200-SALES' },
    { kind: 'tax', account: '2200' },
    { kind: 'tax', departmentId: 'eng', account: '2200-ENG' },
    { kind: 'receivable', account: '1200' },
  ];

  it.each<[string, GlSubject, string | null]>([
    ['kind alone', revenue(), '4000'],
    ['kind alone, for another kind', { kind: 'receivable' }, '1200'],
    ['department', revenue({ departmentId: 'eng' }), '4000-ENG'],
    ['department of a non-revenue kind', { kind: 'tax', departmentId: 'eng' }, '2200-ENG'],
    ['plan', revenue({ planCode: 'team' }), '4100'],
    ['metric', revenue({ metricCode: 'api_calls' }), '4200'],
    ['plan and department beat plan', revenue({ planCode: 'team', departmentId: 'eng' }), '4100-ENG'],
    ['plan beats department', revenue({ planCode: 'team', departmentId: 'sales' }), '4100'],
    ['metric and department beat metric', revenue({ metricCode: 'api_calls', departmentId: 'sales' }), '4200-SALES'],
    ['metric beats department', revenue({ metricCode: 'api_calls', departmentId: 'eng' }), '4200'],
    ['unmapped plan falls back to the department', revenue({ planCode: 'pro', departmentId: 'eng' }), '4000-ENG'],
    ['unmapped plan and department fall back to the kind', revenue({ planCode: 'pro', departmentId: 'ops' }), '4000'],
    ['unmapped department of tax falls back to the kind', { kind: 'tax', departmentId: 'ops' }, '2200'],
    ['no mapping of the kind', { kind: 'cash' }, null],
  ])('%s → %s', (_, subject, account) => {
    expect(resolveGlAccount(mappings, subject)).toBe(account);
  });

  it('excludes a mapping whose qualifier does not match, even when it is the only one of the kind', () => {
    const only: GlMapping[] = [
      { kind: 'revenue', planCode: 'team', account: '4100' },
      { kind: 'revenue', departmentId: 'eng', account: '4000-ENG' },
      { kind: 'discount', departmentId: 'eng', account: '4900-ENG' },
    ];
    expect(resolveGlAccount(only, revenue({ planCode: 'pro' }))).toBeNull();
    expect(resolveGlAccount(only, revenue({ planCode: 'team', departmentId: 'ops' }))).toBe('4100');
    expect(resolveGlAccount(only, revenue({ metricCode: 'team' }))).toBeNull();
    expect(resolveGlAccount(only, { kind: 'discount' })).toBeNull();
    expect(resolveGlAccount(only, { kind: 'discount', departmentId: 'sales' })).toBeNull();
  });

  it('returns null for no mappings at all', () => {
    expect(resolveGlAccount([], revenue({ planCode: 'team' }))).toBeNull();
  });

  it('keeps the first given of equally specific matches', () => {
    const tied: GlMapping[] = [
      { kind: 'revenue', departmentId: 'eng', account: 'DEPT' },
      { kind: 'revenue', planCode: 'team', account: 'PLAN-FIRST' },
      { kind: 'revenue', metricCode: 'api_calls', account: 'METRIC' },
      { kind: 'revenue', planCode: 'team', account: 'PLAN-SECOND' },
    ];
    expect(resolveGlAccount(tied, revenue({ planCode: 'team', departmentId: 'eng' }))).toBe('PLAN-FIRST');
    expect(resolveGlAccount([...tied].reverse(), revenue({ planCode: 'team', departmentId: 'eng' }))).toBe('PLAN-SECOND');
  });

  it('does not depend on the order for different specificity', () => {
    const ordered: GlMapping[] = [
      { kind: 'revenue', planCode: 'team', departmentId: 'eng', account: 'BOTH' },
      { kind: 'revenue', planCode: 'team', account: 'PLAN' },
      { kind: 'revenue', departmentId: 'eng', account: 'DEPT' },
      { kind: 'revenue', account: 'KIND' },
    ];
    const subject = revenue({ planCode: 'team', departmentId: 'eng' });
    expect(resolveGlAccount(ordered, subject)).toBe('BOTH');
    expect(resolveGlAccount([...ordered].reverse(), subject)).toBe('BOTH');
  });
});

describe('validateGlMappings', () => {
  it('accepts a complete, unambiguous set', () => {
    expect(() =>
      validateGlMappings([
        { kind: 'revenue', account: '4000' },
        { kind: 'revenue', planCode: 'team', account: '4100' },
        { kind: 'revenue', planCode: 'team', departmentId: 'eng', account: '4101' },
        { kind: 'revenue', metricCode: 'api_calls', account: '4200' },
        { kind: 'revenue', departmentId: 'eng', account: '4001' },
        { kind: 'tax', account: '2200' },
        { kind: 'tax', departmentId: 'eng', account: '2201' },
        { kind: 'receivable', account: '1200' },
        { kind: 'cash', account: '1000' },
        { kind: 'refund', account: '4950' },
        { kind: 'discount', planCode: null, metricCode: null, account: '4900' },
        { kind: 'credit', account: '4800' },
      ]),
    ).not.toThrow();
    expect(() => validateGlMappings([])).not.toThrow();
  });

  it.each<[string, GlMapping[], number, string]>([
    ['a plan on tax', [{ kind: 'revenue', account: '4000' }, { kind: 'tax', planCode: 'team', account: '2200' }], 1, 'only revenue is mapped per plan or metric; tax'],
    ['a metric on receivable', [{ kind: 'receivable', metricCode: 'api_calls', account: '1200' }], 0, 'only revenue is mapped per plan or metric; receivable'],
    ['a plan on discount, with a department', [{ kind: 'discount', planCode: 'team', departmentId: 'eng', account: '4900' }], 0, 'discount is mapped per department at most'],
    ['a plan and a metric together', [{ kind: 'revenue', account: '4000' }, { kind: 'revenue', planCode: 'team', metricCode: 'api_calls', account: '4100' }], 1, 'never both'],
    ['the kind alone twice', [{ kind: 'cash', account: '1000' }, { kind: 'cash', account: '1001' }], 1, 'mapped twice'],
    [
      'the same plan and department twice',
      [
        { kind: 'revenue', planCode: 'team', departmentId: 'eng', account: '4100' },
        { kind: 'revenue', planCode: 'team', account: '4101' },
        { kind: 'revenue', planCode: 'team', departmentId: 'eng', account: '4102' },
      ],
      2,
      'mapped twice',
    ],
    ['null and absent qualifiers alike', [{ kind: 'revenue', account: '4000' }, { kind: 'revenue', planCode: null, departmentId: null, account: '4001' }], 1, 'mapped twice'],
  ])('refuses %s', (_, mappings, index, message) => {
    let thrown: unknown;
    try {
      validateGlMappings(mappings);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(DomainError);
    expect(thrown).toMatchObject({ code: 'INVALID_GL_MAPPING', details: { index } });
    expect((thrown as DomainError).message).toContain(`mappings[${index}]`);
    expect((thrown as DomainError).message).toContain(message);
  });

  it('tells apart mappings that differ only in kind, plan, metric or department', () => {
    expect(() =>
      validateGlMappings([
        { kind: 'revenue', planCode: 'team', account: 'a' },
        { kind: 'revenue', metricCode: 'team', account: 'b' },
        { kind: 'revenue', departmentId: 'team', account: 'c' },
        { kind: 'tax', departmentId: 'team', account: 'd' },
      ]),
    ).not.toThrow();
  });
});

describe('describeGlSubject', () => {
  it.each<[GlSubject, string]>([
    [{ kind: 'receivable' }, 'receivable'],
    [{ kind: 'revenue', planCode: null, metricCode: null, departmentId: null }, 'revenue'],
    [{ kind: 'revenue', planCode: 'team' }, 'revenue (plan "team")'],
    [{ kind: 'revenue', metricCode: 'api_calls' }, 'revenue (metric "api_calls")'],
    [{ kind: 'tax', departmentId: '4f1c' }, 'tax (department 4f1c)'],
    [{ kind: 'revenue', planCode: 'team', departmentId: '4f1c' }, 'revenue (plan "team", department 4f1c)'],
    [{ kind: 'revenue', metricCode: 'api_calls', departmentId: '4f1c' }, 'revenue (metric "api_calls", department 4f1c)'],
  ])('%j → %s', (subject, text) => {
    expect(describeGlSubject(subject)).toBe(text);
  });
});
