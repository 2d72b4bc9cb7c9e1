import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import {
  MAX_APPROVAL_LEVELS,
  MAX_LEVEL_TIMEOUT_HOURS,
  approvalSubjectTypes,
  chooseApprovalRule,
  isCarriedOutInWorkflowTask,
  validateApprovalLevels,
  type ApprovalLevelSpec,
  type ApprovalRuleCandidate,
  type ApprovalSubjectFacts,
} from '../../../../src/domain/index.js';

const level = (overrides: Partial<ApprovalLevelSpec> = {}): ApprovalLevelSpec => ({
  role: 'OWNER',
  approvers: [],
  quorum: 1,
  timeoutHours: null,
  onTimeout: null,
  ...overrides,
});

const rule = (id: string, overrides: Partial<ApprovalRuleCandidate> = {}): ApprovalRuleCandidate => ({
  id,
  subjectType: 'credit_note',
  organizationId: null,
  minAmount: 0,
  currency: null,
  levels: [level()],
  ...overrides,
});

/** A credit note of 1,000.00 USD in `child`, whose parent is `parent`, under the root `root`. */
const creditNote: ApprovalSubjectFacts = { subjectType: 'credit_note', ancestry: ['child', 'parent', 'root'], amount: 100_000, currency: 'USD' };

describe('chooseApprovalRule', () => {
  it.each<[string, ApprovalRuleCandidate[], Partial<ApprovalSubjectFacts>, string | null]>([
    ['no rule: the action proceeds at once', [], {}, null],
    ['a global rule holds everywhere', [rule('global')], {}, 'global'],
    ['the own organization over its parent over global', [rule('global'), rule('parent', { organizationId: 'parent' }), rule('own', { organizationId: 'child' })], {}, 'own'],
    ['the parent over global', [rule('global'), rule('parent', { organizationId: 'parent' })], {}, 'parent'],
    ['the root, an ancestor, over global', [rule('global'), rule('root', { organizationId: 'root' })], {}, 'root'],
    ['a more specific scope wins even with a lower minAmount', [rule('global', { minAmount: 90_000 }), rule('own', { organizationId: 'child', minAmount: 1 })], {}, 'own'],
    ['within one scope, the highest minAmount not above the amount', [rule('low', { minAmount: 0 }), rule('high', { minAmount: 50_000 }), rule('mid', { minAmount: 10_000 })], {}, 'high'],
    ['a minAmount equal to the amount applies', [rule('low'), rule('exact', { minAmount: 100_000 })], {}, 'exact'],
    ['a minAmount above the amount is left out', [rule('low', { minAmount: 10 }), rule('above', { minAmount: 100_001 })], {}, 'low'],
    ['only a rule above the amount: none applies', [rule('above', { minAmount: 100_001 })], {}, null],
    ['a subject without an amount counts as 0', [rule('zero'), rule('positive', { minAmount: 1 })], { amount: null }, 'zero'],
    ['a currency-scoped rule for its currency', [rule('any'), rule('usd', { currency: 'USD', minAmount: 1 })], {}, 'usd'],
    ['a currency-scoped rule not for another currency', [rule('any'), rule('eur', { currency: 'EUR', minAmount: 1 })], {}, 'any'],
    ['a currency-scoped rule not for a subject without one', [rule('usd', { currency: 'USD' })], { currency: null }, null],
    ['another subject type never applies', [rule('refund', { subjectType: 'refund' }), rule('manual', { subjectType: 'manual', organizationId: 'child' })], {}, null],
    ['the subject type picks among scopes', [rule('refund', { subjectType: 'refund', organizationId: 'child' }), rule('global')], {}, 'global'],
    ['a rule scoped to an unrelated organization never applies', [rule('sibling', { organizationId: 'sibling' })], {}, null],
    ['a child rule never reaches up to its parent', [rule('grandchild', { organizationId: 'grandchild' }), rule('global')], {}, 'global'],
    ['a tie in scope and minAmount goes to the lowest id', [rule('b'), rule('a'), rule('c')], {}, 'a'],
    ['the lowest id only among the best minAmount', [rule('a', { minAmount: 1 }), rule('c', { minAmount: 5 }), rule('b', { minAmount: 5 })], {}, 'b'],
  ])('%s', (_, rules, facts, expected) => {
    expect(chooseApprovalRule(rules, { ...creditNote, ...facts })?.id ?? null).toBe(expected);
  });

  it('returns the candidate it was given (with its extra fields)', () => {
    const stored = { ...rule('stored'), name: 'Credit notes over 1,000' };
    expect(chooseApprovalRule([stored], creditNote)).toBe(stored);
  });

  /** The rule as the documented order defines it: applicable, then (scope distance, -minAmount, id) smallest. */
  const reference = (rules: readonly ApprovalRuleCandidate[], facts: ApprovalSubjectFacts) => {
    const ranked = rules
      .filter((each) => each.subjectType === facts.subjectType && (each.currency === null || each.currency === facts.currency) && each.minAmount <= (facts.amount ?? 0))
      .map((each) => ({ each, distance: each.organizationId === null ? facts.ancestry.length : facts.ancestry.indexOf(each.organizationId) }))
      .filter(({ distance }) => distance !== -1)
      .sort((a, b) => a.distance - b.distance || b.each.minAmount - a.each.minAmount || (a.each.id < b.each.id ? -1 : a.each.id > b.each.id ? 1 : 0));
    return ranked[0]?.each ?? null;
  };

  const candidateArbitrary: fc.Arbitrary<ApprovalRuleCandidate> = fc.record({
    id: fc.stringMatching(/^[a-f0-9]{1,3}$/),
    subjectType: fc.constantFrom('credit_note' as const, 'refund' as const),
    organizationId: fc.constantFrom(null, 'child', 'parent', 'root', 'sibling'),
    // Few distinct values, so ties in scope and minAmount are common.
    minAmount: fc.constantFrom(0, 50_000, 100_000, 100_001),
    currency: fc.constantFrom(null, 'USD', 'EUR'),
    levels: fc.constant<ApprovalLevelSpec[]>([level()]),
  });

  it('never depends on the order the rules were read in, and follows scope, then minAmount, then the lowest id', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(candidateArbitrary, { selector: (candidate) => candidate.id, maxLength: 12 }),
        fc.array(fc.nat(), { minLength: 12, maxLength: 12 }),
        (rules, sortKeys) => {
          const shuffled = rules.map((each, index) => ({ each, key: sortKeys[index]! })).sort((a, b) => a.key - b.key).map(({ each }) => each);
          const chosen = chooseApprovalRule(rules, creditNote);
          expect(chooseApprovalRule(shuffled, creditNote)).toBe(chosen);
          expect(chooseApprovalRule([...rules].reverse(), creditNote)).toBe(chosen);
          expect(chosen).toBe(reference(rules, creditNote));
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe('validateApprovalLevels', () => {
  it.each<[string, ApprovalLevelSpec[]]>([
    ['one level of one approver', [level()]],
    ['a quorum of 3 among everyone holding the role', [level({ role: 'finance', quorum: 3 })]],
    ['a quorum of all named approvers', [level({ approvers: ['ann', 'bob'], quorum: 2 })]],
    ['a timeout with its action', [level({ timeoutHours: 24, onTimeout: 'escalate' }), level({ timeoutHours: MAX_LEVEL_TIMEOUT_HOURS, onTimeout: 'reject' })]],
    ['a fraction of an hour', [level({ timeoutHours: 0.5, onTimeout: 'approve' })]],
    [`${MAX_APPROVAL_LEVELS} levels`, Array.from({ length: MAX_APPROVAL_LEVELS }, () => level())],
  ])('accepts %s', (_, levels) => {
    expect(() => validateApprovalLevels(levels)).not.toThrow();
  });

  it.each<[string, ApprovalLevelSpec[], string | undefined]>([
    ['no level', [], undefined],
    ['too many levels', Array.from({ length: MAX_APPROVAL_LEVELS + 1 }, () => level()), undefined],
    ['a quorum of 0', [level({ quorum: 0 })], 'levels.0.quorum'],
    ['a negative quorum', [level({ quorum: -1 })], 'levels.0.quorum'],
    ['a fractional quorum', [level(), level({ quorum: 1.5 })], 'levels.1.quorum'],
    ['a quorum above the named approvers', [level({ approvers: ['ann', 'bob'], quorum: 3 })], 'levels.0.quorum'],
    ['an approver named twice', [level({ approvers: ['ann', 'ann'] })], 'levels.0.approvers'],
    ['a timeout without an action', [level({ timeoutHours: 24 })], 'levels.0.onTimeout'],
    ['an action without a timeout', [level({ onTimeout: 'reject' })], 'levels.0.onTimeout'],
    ['a timeout of 0 hours', [level({ timeoutHours: 0, onTimeout: 'reject' })], 'levels.0.timeoutHours'],
    ['a negative timeout', [level({ timeoutHours: -1, onTimeout: 'reject' })], 'levels.0.timeoutHours'],
    ['a timeout beyond a year', [level({ timeoutHours: MAX_LEVEL_TIMEOUT_HOURS + 1, onTimeout: 'approve' })], 'levels.0.timeoutHours'],
  ])('refuses %s', (_, levels, field) => {
    expect(() => validateApprovalLevels(levels)).toThrow(
      expect.objectContaining({ code: 'INVALID_APPROVAL_RULE', ...(field ? { details: expect.objectContaining({ field }) } : {}) }),
    );
  });
});

describe('isCarriedOutInWorkflowTask', () => {
  it.each([
    ['manual', true],
    ['credit_note', true],
    // Calls Stripe: through the activity queue, so a slow refund never holds the decision's answer.
    ['refund', false],
    // Approving records the decision only: the dispute's or contract's own workflow carries it out.
    ['dispute_resolution', true],
    ['contract_amendment', true],
    // Not wired yet: the activity queue until its module says otherwise.
    ['seat_increase', false],
    ['plan_change', false],
    ['budget_exception', false],
  ] as const)('%s → %s', (subjectType, inTask) => {
    expect(isCarriedOutInWorkflowTask(subjectType)).toBe(inTask);
  });

  it('has a row for every subject type', () => {
    expect(approvalSubjectTypes).toHaveLength(8);
  });
});
