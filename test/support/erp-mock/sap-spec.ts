import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { XMLParser } from 'fast-xml-parser';

/**
 * Validates Service Layer request bodies against SAP's own EDMX (OData v3, namespace SAPB1),
 * closed: every property must be declared on its entity or complex type (recursively into complex
 * and `Collection(...)` properties), enum values must be members of their EnumType, Edm.Int32 and
 * Edm.Double must be numbers, Edm.DateTime a date, and a read-only property (`Writable="false"`,
 * such as DocEntry) must not be sent. On create, a non-nullable writable property (a key such as
 * CardCode) without a DefaultValue is required. Navigation properties are not inline properties: B1 takes none in a body.
 */

interface EdmProperty {
  type: string;
  nullable: boolean;
  writable: boolean;
  /** Non-nullable, writable and without a DefaultValue: the body must carry it. */
  required: boolean;
}

interface EdmModel {
  enums: Map<string, Set<string>>;
  /** Entity and complex types by their qualified name (`SAPB1.Document`). */
  types: Map<string, Map<string, EdmProperty>>;
  navigations: Map<string, Set<string>>;
  entitySets: Map<string, string>;
  /** Action parameters (Login) by import name. */
  functionImports: Map<string, Map<string, EdmProperty>>;
}

type XmlNode = Record<string, unknown>;

const specPath = fileURLToPath(new URL('../../fixtures/erp-specs/sap-business-one/metadata.xml', import.meta.url));
const repeated = new Set(['EnumType', 'Member', 'EntityType', 'ComplexType', 'Property', 'NavigationProperty', 'EntitySet', 'FunctionImport', 'Parameter']);

const list = (node: unknown, key: string) => ((node as XmlNode | undefined)?.[key] as XmlNode[] | undefined) ?? [];

function propertyOf(node: XmlNode): EdmProperty {
  const nullable = node.Nullable !== 'false';
  const writable = node.Writable !== 'false';
  return { type: String(node.Type), nullable, writable, required: !nullable && writable && node.DefaultValue === undefined };
}

function parseModel(): EdmModel {
  const parser = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '', isArray: (name) => repeated.has(name) });
  const document = parser.parse(readFileSync(specPath, 'utf8')) as XmlNode;
  const schema = ((document['edmx:Edmx'] as XmlNode)['edmx:DataServices'] as XmlNode).Schema as XmlNode;
  const namespace = String(schema.Namespace);
  const model: EdmModel = { enums: new Map(), types: new Map(), navigations: new Map(), entitySets: new Map(), functionImports: new Map() };
  for (const enumType of list(schema, 'EnumType')) {
    model.enums.set(`${namespace}.${String(enumType.Name)}`, new Set(list(enumType, 'Member').map((member) => String(member.Name))));
  }
  for (const type of [...list(schema, 'EntityType'), ...list(schema, 'ComplexType')]) {
    const name = `${namespace}.${String(type.Name)}`;
    model.types.set(name, new Map(list(type, 'Property').map((property) => [String(property.Name), propertyOf(property)])));
    model.navigations.set(name, new Set(list(type, 'NavigationProperty').map((navigation) => String(navigation.Name))));
  }
  const container = schema.EntityContainer as XmlNode;
  for (const set of list(container, 'EntitySet')) model.entitySets.set(String(set.Name), String(set.EntityType));
  for (const action of list(container, 'FunctionImport')) {
    model.functionImports.set(String(action.Name), new Map(list(action, 'Parameter').map((parameter) => [String(parameter.Name), propertyOf(parameter)])));
  }
  return model;
}

let cached: EdmModel | undefined;
/** Parsed once per test process: the EDMX is 2.2 MB. */
const model = () => (cached ??= parseModel());

const isObject = (value: unknown): value is Record<string, unknown> => value !== null && typeof value === 'object' && !Array.isArray(value);
const edmDate = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?Z?)?$/;

function checkValue(value: unknown, type: string, path: string, violations: string[]): void {
  const collection = /^Collection\((.+)\)$/.exec(type);
  if (collection) {
    if (!Array.isArray(value)) return void violations.push(`${path}: expected an array of ${collection[1]}`);
    return value.forEach((item, index) => checkValue(item, collection[1]!, `${path}[${index}]`, violations));
  }
  const { enums, types } = model();
  const members = enums.get(type);
  if (members) {
    if (typeof value !== 'string' || !members.has(value)) violations.push(`${path}: ${JSON.stringify(value)} is not a member of ${type}`);
    return;
  }
  if (types.has(type)) {
    if (!isObject(value)) return void violations.push(`${path}: expected an object of ${type}`);
    return checkObject(value, type, path, { create: true }, violations);
  }
  switch (type) {
    case 'Edm.String':
    case 'Edm.Time':
      if (typeof value !== 'string') violations.push(`${path}: expected a string (${type})`);
      return;
    case 'Edm.Int32':
      if (!Number.isInteger(value)) violations.push(`${path}: expected an integer (Edm.Int32)`);
      return;
    case 'Edm.Double':
      if (typeof value !== 'number' || !Number.isFinite(value)) violations.push(`${path}: expected a number (Edm.Double)`);
      return;
    case 'Edm.DateTime':
      if (typeof value !== 'string' || !edmDate.test(value)) violations.push(`${path}: expected a date (Edm.DateTime)`);
      return;
    default:
      violations.push(`${path}: the validator does not know type ${type}`);
  }
}

function checkProperties(body: Record<string, unknown>, properties: Map<string, EdmProperty>, typeName: string, path: string, options: { create: boolean; navigations?: Set<string> }, violations: string[]): void {
  for (const [name, value] of Object.entries(body)) {
    const at = path === '' ? name : `${path}.${name}`;
    const property = properties.get(name);
    if (!property) {
      violations.push(options.navigations?.has(name) ? `${at}: navigation property of ${typeName}, not writable inline` : `${at}: ${typeName} has no property ${name}`);
      continue;
    }
    if (!property.writable) violations.push(`${at}: read-only property of ${typeName}`);
    if (value === null) {
      if (!property.nullable) violations.push(`${at}: must not be null`);
      continue;
    }
    checkValue(value, property.type, at, violations);
  }
  if (!options.create) return;
  for (const [name, property] of properties) {
    if (property.required && !(name in body)) violations.push(`${path === '' ? name : `${path}.${name}`}: required by ${typeName}`);
  }
}

function checkObject(body: Record<string, unknown>, typeName: string, path: string, options: { create: boolean }, violations: string[]): void {
  const { types, navigations } = model();
  checkProperties(body, types.get(typeName)!, typeName, path, { ...options, navigations: navigations.get(typeName) }, violations);
}

/**
 * Violations of a body sent to an entity set (`POST /Invoices`: a create; `PATCH
 * /BusinessPartners('C1')`: an update, so nothing is required) or to an action such as `Login`.
 */
export function validateSapBody(target: string, body: unknown, options: { create: boolean }): string[] {
  const { entitySets, functionImports } = model();
  const violations: string[] = [];
  if (!isObject(body)) return [`${target}: the body is not a JSON object`];
  const entityType = entitySets.get(target);
  if (entityType !== undefined) {
    checkObject(body, entityType, '', options, violations);
    return violations;
  }
  const parameters = functionImports.get(target);
  if (parameters === undefined) throw new Error(`the Service Layer EDMX has no entity set or action ${target}`);
  checkProperties(body, parameters, target, '', { create: false }, violations);
  return violations;
}
