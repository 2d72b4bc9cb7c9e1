import type { TestStack } from '../../support/stack.js';

/** The parts of an OpenAPI 3.1 document the tests read. */
export interface OpenApiDocument {
  paths: Record<string, Record<string, OpenApiOperation>>;
  components: { schemas: Record<string, JsonSchema> };
}

export interface OpenApiOperation {
  parameters?: { name: string; in: 'path' | 'query' | 'header'; schema: JsonSchema }[];
  requestBody?: { content: Record<string, { schema: JsonSchema }> };
  responses: Record<string, { content?: Record<string, { schema: JsonSchema }> }>;
}

export interface JsonSchema {
  $ref?: string;
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: boolean | JsonSchema;
  items?: JsonSchema;
  enum?: unknown[];
  const?: unknown;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  allOf?: JsonSchema[];
  format?: string;
}

export async function fetchOpenApi(stack: TestStack): Promise<OpenApiDocument> {
  const response = await fetch(`${stack.baseUrl}/openapi.json`);
  if (response.status !== 200) throw new Error(`/openapi.json answered ${response.status}: ${await response.text()}`);
  return (await response.json()) as OpenApiDocument;
}

const httpMethods = ['get', 'post', 'put', 'patch', 'delete'];

/** Every `METHOD /path` the document describes. */
export function documentedOperations(doc: OpenApiDocument): string[] {
  return Object.entries(doc.paths).flatMap(([path, operations]) =>
    Object.keys(operations)
      .filter((method) => httpMethods.includes(method))
      .map((method) => `${method.toUpperCase()} ${path}`),
  );
}

function typeOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'number';
  return typeof value;
}

const formats: Record<string, (value: string) => boolean> = {
  uuid: (value) => /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(value),
  'date-time': (value) => /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/.test(value) && !Number.isNaN(Date.parse(value)),
};

function resolve(doc: OpenApiDocument, schema: JsonSchema): JsonSchema {
  return schema.$ref ? resolve(doc, doc.components.schemas[schema.$ref.replace('#/components/schemas/', '')] ?? {}) : schema;
}

/**
 * Where `value` departs from `schema` (the subset of JSON Schema that zod-openapi emits), as
 * readable paths; empty when it conforms. Stricter than JSON Schema in one way: an object may
 * carry only documented properties, so an undocumented field (a leaked hash, say) is reported.
 */
export function shapeErrors(doc: OpenApiDocument, schema: JsonSchema, value: unknown, at = '$'): string[] {
  if (schema.$ref) {
    const name = schema.$ref.replace('#/components/schemas/', '');
    const target = doc.components.schemas[name];
    if (!target) return [`${at}: unknown $ref ${schema.$ref}`];
    return shapeErrors(doc, target, value, at);
  }
  if (schema.anyOf ?? schema.oneOf) {
    const options = (schema.anyOf ?? schema.oneOf)!;
    return options.some((option) => shapeErrors(doc, option, value, at).length === 0) ? [] : [`${at}: matches no alternative`];
  }
  if (schema.allOf) {
    // `extend` of a named object: one object whose properties are the union of the parts'.
    const parts = schema.allOf.map((part) => resolve(doc, part));
    const merged: JsonSchema = {
      type: 'object',
      properties: Object.assign({}, ...parts.map((part) => part.properties ?? {})) as Record<string, JsonSchema>,
      required: parts.flatMap((part) => part.required ?? []),
    };
    return shapeErrors(doc, merged, value, at);
  }
  const errors: string[] = [];
  const actual = typeOf(value);
  if (schema.type !== undefined) {
    const allowed = Array.isArray(schema.type) ? schema.type : [schema.type];
    const ok = allowed.includes(actual) || (actual === 'integer' && allowed.includes('number'));
    if (!ok) return [`${at}: ${actual} is not ${allowed.join('|')}`];
  }
  if (schema.enum && !schema.enum.includes(value)) errors.push(`${at}: ${JSON.stringify(value)} not in enum`);
  if (schema.const !== undefined && schema.const !== value) errors.push(`${at}: not ${JSON.stringify(schema.const)}`);
  if (typeof value === 'string' && schema.format && formats[schema.format] && !formats[schema.format]!(value)) {
    errors.push(`${at}: "${value}" is not a ${schema.format}`);
  }
  if (actual === 'array' && schema.items) {
    (value as unknown[]).forEach((item, index) => errors.push(...shapeErrors(doc, schema.items!, item, `${at}[${index}]`)));
  }
  if (actual === 'object' && (schema.properties || schema.required)) {
    const record = value as Record<string, unknown>;
    for (const name of schema.required ?? []) if (!(name in record)) errors.push(`${at}.${name}: missing`);
    for (const [name, fieldValue] of Object.entries(record)) {
      const property = schema.properties?.[name];
      if (property) errors.push(...shapeErrors(doc, property, fieldValue, `${at}.${name}`));
      else if (schema.additionalProperties === undefined || schema.additionalProperties === false) errors.push(`${at}.${name}: not documented`);
    }
  }
  return errors;
}

/** The schema a documented operation answers `status` with, and its content type. */
export function responseSchema(doc: OpenApiDocument, method: string, path: string, status: number): { contentType: string; schema: JsonSchema } | undefined {
  const response = doc.paths[path]?.[method.toLowerCase()]?.responses[String(status)];
  const [contentType, media] = Object.entries(response?.content ?? {})[0] ?? [];
  return contentType && media ? { contentType, schema: media.schema } : undefined;
}

/** The JSON body schema a documented operation takes, if it takes one. */
export function requestBodySchema(doc: OpenApiDocument, method: string, path: string): JsonSchema | undefined {
  return doc.paths[path]?.[method.toLowerCase()]?.requestBody?.content['application/json']?.schema;
}

const typesOf = (schema: JsonSchema) => (schema.type === undefined ? [] : Array.isArray(schema.type) ? schema.type : [schema.type]);

/**
 * The path of every field of `schema` that takes a string (alone or as one of its alternatives),
 * through nested objects and arrays (an array's fields at its first item).
 */
export function stringFieldPaths(doc: OpenApiDocument, schema: JsonSchema, at: (string | number)[] = []): (string | number)[][] {
  const resolved = resolve(doc, schema);
  const alternatives = (resolved.anyOf ?? resolved.oneOf ?? []).map((option) => resolve(doc, option));
  if (typesOf(resolved).includes('string') || alternatives.some((option) => typesOf(option).includes('string'))) return [at];
  if (resolved.allOf) return resolved.allOf.flatMap((part) => stringFieldPaths(doc, part, at));
  if (resolved.items) return stringFieldPaths(doc, resolved.items, [...at, 0]);
  return Object.entries(resolved.properties ?? {}).flatMap(([name, property]) => stringFieldPaths(doc, property, [...at, name]));
}
