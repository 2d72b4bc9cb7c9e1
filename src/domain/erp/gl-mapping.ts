import { DomainError } from '../errors.js';

/**
 * GL mappings: which ERP account each kind of amount posts to. Revenue may be mapped per plan,
 * per metric and per department; every other kind has one account per integration (or per
 * department). A document that needs an account nobody mapped is not pushed at all: it fails
 * naming what is missing, rather than landing on some default account.
 */

export const glAccountKinds = ['revenue', 'tax', 'receivable', 'cash', 'refund', 'discount', 'credit'] as const;
export type GlAccountKind = (typeof glAccountKinds)[number];

/** What an amount is: its kind and, for revenue, the plan, metric and department it came from. */
export interface GlSubject {
  kind: GlAccountKind;
  planCode?: string | null;
  metricCode?: string | null;
  departmentId?: string | null;
}

/** The account the amounts a subject describes post to. */
export interface GlMapping extends GlSubject {
  account: string;
}

const qualifiers = ['planCode', 'metricCode', 'departmentId'] as const;

/**
 * Refuses a mapping set that cannot be applied unambiguously: plan and metric qualifiers on
 * anything but revenue (only revenue lines carry them), a plan and a metric on one mapping (no
 * line has both), and two mappings with the same kind and qualifiers.
 */
export function validateGlMappings(mappings: readonly GlMapping[]): void {
  const seen = new Set<string>();
  mappings.forEach((mapping, index) => {
    if (mapping.kind !== 'revenue' && (mapping.planCode || mapping.metricCode)) {
      throw new DomainError('INVALID_GL_MAPPING', `mappings[${index}]: only revenue is mapped per plan or metric; ${mapping.kind} is mapped per department at most`, { index });
    }
    if (mapping.planCode && mapping.metricCode) {
      throw new DomainError('INVALID_GL_MAPPING', `mappings[${index}]: a revenue line comes from a plan's fees or a metric's usage, never both; map them separately`, { index });
    }
    const key = [mapping.kind, ...qualifiers.map((field) => mapping[field] ?? '')].join('\u0000');
    if (seen.has(key)) throw new DomainError('INVALID_GL_MAPPING', `mappings[${index}]: the same kind and qualifiers are mapped twice`, { index });
    seen.add(key);
  });
}

/** How specific a mapping is for ranking: a plan or metric qualifier outranks a department one, and both together outrank either. */
function specificity(mapping: GlMapping): number {
  return (mapping.planCode || mapping.metricCode ? 2 : 0) + (mapping.departmentId ? 1 : 0);
}

/**
 * The account for `subject`: among the mappings of its kind whose every qualifier matches it, the
 * most specific (plan or metric and department, then plan or metric, then department, then the
 * kind alone). Null when none matches.
 */
export function resolveGlAccount(mappings: readonly GlMapping[], subject: GlSubject): string | null {
  let best: GlMapping | null = null;
  for (const mapping of mappings) {
    if (mapping.kind !== subject.kind) continue;
    if (!qualifiers.every((field) => !mapping[field] || mapping[field] === subject[field])) continue;
    if (best === null || specificity(mapping) > specificity(best)) best = mapping;
  }
  return best?.account ?? null;
}

/** Describes an unmapped subject for a sync log: `revenue (plan "team", department 4f1c…)`. */
export function describeGlSubject(subject: GlSubject): string {
  const parts = [
    subject.planCode ? `plan "${subject.planCode}"` : null,
    subject.metricCode ? `metric "${subject.metricCode}"` : null,
    subject.departmentId ? `department ${subject.departmentId}` : null,
  ].filter((part) => part !== null);
  return parts.length === 0 ? subject.kind : `${subject.kind} (${parts.join(', ')})`;
}
