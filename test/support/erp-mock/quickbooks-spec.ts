import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { XMLParser } from 'fast-xml-parser';

/**
 * Validates QuickBooks Online JSON bodies against Intuit's own XSDs (the v3 Java SDK's, committed
 * under test/fixtures/erp-specs/quickbooks-online). QBO's JSON keys are the XSD's element and
 * attribute names; simple content (ReferenceType, MemoRef) becomes `value`. Every key must be an
 * element or attribute of the entity's complex type (following complexContent extensions, groups
 * and element refs), elements the XSD requires must be there, and simple values must have the
 * XSD's type (numbers for decimals, booleans, YYYY-MM-DD dates, enumeration members).
 *
 * The XSDs type what QBO *returns*, so nearly everything is optional: `required` adds what the
 * API reference says a create needs (an Invoice without Line or CustomerRef is refused).
 */
export interface QuickBooksSpec {
  /** Violations of `body` as the complex type `typeName` (an entity such as `Invoice`). */
  validate(typeName: string, body: unknown): string[];
}

type Node = Record<string, unknown>;

/** A named type (complex or simple), or a type declared inline on its element. */
type TypeRef = { name: string } | { complex: Node } | { simple: Node };

interface Particle {
  type: TypeRef;
  many: boolean;
  required: boolean;
}

interface ComplexModel {
  elements: Map<string, Particle>;
  attributes: Map<string, TypeRef>;
  /** The simple type of the text content (`value` in JSON), for simpleContent types. */
  text?: TypeRef;
  /** xs:any: anything goes (IntuitAnyType extension points). */
  open: boolean;
}

const children = (node: Node, tag: string) => (node[tag] ?? []) as Node[];
const attribute = (node: Node, name: string) => node[`@${name}`] as string | undefined;
const local = (qualified: string) => qualified.replace(/^[a-z]+:/, '');

const numeric = new Set(['decimal', 'double', 'float']);
const integral = new Set(['int', 'integer', 'long', 'short', 'byte', 'positiveInteger', 'nonNegativeInteger', 'unsignedInt']);

export function quickBooksSpec(directory: string, required: Record<string, string[]> = {}): QuickBooksSpec {
  const parser = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '@', removeNSPrefix: true, isArray: (_name, _path, _leaf, isAttribute) => !isAttribute });
  const complexTypes = new Map<string, Node>();
  const simpleTypes = new Map<string, Node>();
  const groups = new Map<string, Node>();
  const globalElements = new Map<string, Node>();
  for (const file of readdirSync(directory).filter((name) => name.endsWith('.xsd'))) {
    const schema = (parser.parse(readFileSync(join(directory, file), 'utf8')) as { schema: Node[] }).schema[0]!;
    for (const type of children(schema, 'complexType')) complexTypes.set(attribute(type, 'name')!, type);
    for (const type of children(schema, 'simpleType')) simpleTypes.set(attribute(type, 'name')!, type);
    for (const group of children(schema, 'group')) groups.set(attribute(group, 'name')!, group);
    for (const element of children(schema, 'element')) globalElements.set(attribute(element, 'name')!, element);
  }

  const models = new Map<Node, ComplexModel>();

  function model(type: Node): ComplexModel {
    let compiled = models.get(type);
    if (!compiled) {
      compiled = { elements: new Map(), attributes: new Map(), open: false };
      models.set(type, compiled);
      collect(type, compiled, true);
    }
    return compiled;
  }

  function named(name: string): Node {
    const type = complexTypes.get(local(name));
    if (!type) throw new Error(`the QuickBooks XSDs have no complex type ${name}`);
    return type;
  }

  /** Adds a type's (or a content model's) elements and attributes; `mandatory` is false inside choices and optional sequences. */
  function collect(node: Node, into: ComplexModel, mandatory: boolean): void {
    for (const content of children(node, 'complexContent')) {
      for (const extension of children(content, 'extension')) {
        const base = model(named(attribute(extension, 'base')!));
        base.elements.forEach((particle, name) => into.elements.set(name, particle));
        base.attributes.forEach((type, name) => into.attributes.set(name, type));
        into.open ||= base.open;
        into.text ??= base.text;
        collect(extension, into, mandatory);
      }
    }
    for (const content of children(node, 'simpleContent')) {
      for (const extension of children(content, 'extension')) {
        const base = local(attribute(extension, 'base')!);
        const complexBase = complexTypes.get(base);
        into.text = complexBase ? model(complexBase).text : { name: base };
        if (complexBase) model(complexBase).attributes.forEach((type, name) => into.attributes.set(name, type));
        collect(extension, into, mandatory);
      }
    }
    for (const item of children(node, 'attribute')) into.attributes.set(attribute(item, 'name')!, { name: local(attribute(item, 'type') ?? 'string') });
    if (children(node, 'any').length > 0) into.open = true;
    for (const sequence of children(node, 'sequence')) collect(sequence, into, mandatory && occurs(sequence) >= 1);
    for (const choice of children(node, 'choice')) collect(choice, into, false);
    for (const ref of children(node, 'group')) {
      const group = groups.get(local(attribute(ref, 'ref')!));
      if (group) collect(group, into, mandatory && occurs(ref) >= 1);
    }
    for (const element of children(node, 'element')) addElement(element, into, mandatory);
  }

  function addElement(element: Node, into: ComplexModel, mandatory: boolean): void {
    const many = attribute(element, 'maxOccurs') !== undefined && attribute(element, 'maxOccurs') !== '1';
    const required = mandatory && occurs(element) >= 1;
    const ref = attribute(element, 'ref');
    if (ref) {
      // An abstract head (IntuitObject) stands for every element of its substitution group.
      const head = globalElements.get(local(ref))!;
      const members = attribute(head, 'abstract') === 'true' ? [...globalElements.values()].filter((candidate) => attribute(candidate, 'substitutionGroup') === local(ref)) : [head];
      for (const member of members) into.elements.set(attribute(member, 'name')!, { type: { name: local(attribute(member, 'type')!) }, many, required: false });
      return;
    }
    const complex = children(element, 'complexType')[0];
    const simple = children(element, 'simpleType')[0];
    const type: TypeRef = complex ? { complex } : simple ? { simple } : { name: local(attribute(element, 'type') ?? 'string') };
    into.elements.set(attribute(element, 'name')!, { type, many, required });
  }

  const occurs = (node: Node) => Number(attribute(node, 'minOccurs') ?? '1');

  function simpleViolation(type: TypeRef, value: unknown): string | null {
    const declared = 'simple' in type ? type.simple : 'name' in type ? simpleTypes.get(type.name) : undefined;
    const restriction = declared ? children(declared, 'restriction')[0] : undefined;
    if (restriction) {
      const allowed = children(restriction, 'enumeration').map((item) => attribute(item, 'value'));
      if (allowed.length > 0 && !allowed.includes(value as string)) return `${JSON.stringify(value)} is not one of ${allowed.join(', ')}`;
      return simpleViolation({ name: local(attribute(restriction, 'base') ?? 'string') }, value);
    }
    const builtin = 'name' in type ? type.name : 'string';
    if (numeric.has(builtin)) return typeof value === 'number' && Number.isFinite(value) ? null : `expected a number (xs:${builtin}), got ${JSON.stringify(value)}`;
    if (integral.has(builtin)) return Number.isInteger(value) && (builtin !== 'positiveInteger' || (value as number) > 0) ? null : `expected an integer (xs:${builtin}), got ${JSON.stringify(value)}`;
    if (builtin === 'boolean') return typeof value === 'boolean' ? null : `expected a boolean, got ${JSON.stringify(value)}`;
    if (typeof value !== 'string') return `expected a string (xs:${builtin}), got ${JSON.stringify(value)}`;
    if (builtin === 'date' && !/^\d{4}-\d{2}-\d{2}$/.test(value)) return `expected a date YYYY-MM-DD, got ${JSON.stringify(value)}`;
    return null;
  }

  function check(type: TypeRef, value: unknown, path: string, violations: string[]): void {
    const complex = 'complex' in type ? type.complex : 'name' in type ? complexTypes.get(type.name) : undefined;
    if (!complex) {
      const problem = simpleViolation(type, value);
      if (problem) violations.push(`${path}: ${problem}`);
      return;
    }
    const typeName = 'name' in type ? type.name : undefined;
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      violations.push(`${path}: expected an object${typeName ? ` (${typeName})` : ''}`);
      return;
    }
    const compiled = model(complex);
    const object = value as Record<string, unknown>;
    for (const [key, item] of Object.entries(object)) {
      const particle = compiled.elements.get(key);
      const attributeType = compiled.attributes.get(key);
      if (particle) checkParticle(particle, item, `${path}.${key}`, violations);
      else if (attributeType) check(attributeType, item, `${path}.${key}`, violations);
      else if (key === 'value' && compiled.text) check(compiled.text, item, `${path}.${key}`, violations);
      else if (!compiled.open) violations.push(`${path}: unknown field ${JSON.stringify(key)}${typeName ? ` (not an element of ${typeName})` : ''}`);
    }
    const mandatory = [...compiled.elements].filter(([, particle]) => particle.required).map(([name]) => name);
    if (typeName) mandatory.push(...(required[typeName] ?? []));
    for (const name of mandatory) if (object[name] === undefined) violations.push(`${path}: missing required ${JSON.stringify(name)}`);
  }

  function checkParticle(particle: Particle, value: unknown, path: string, violations: string[]): void {
    if (!particle.many) {
      if (Array.isArray(value)) violations.push(`${path}: expected one value, got an array`);
      else check(particle.type, value, path, violations);
      return;
    }
    if (!Array.isArray(value)) {
      violations.push(`${path}: expected an array (maxOccurs unbounded)`);
      return;
    }
    value.forEach((item, index) => check(particle.type, item, `${path}[${index}]`, violations));
  }

  return {
    validate(typeName, body) {
      named(typeName);
      const violations: string[] = [];
      check({ name: typeName }, body, typeName, violations);
      return violations;
    },
  };
}
