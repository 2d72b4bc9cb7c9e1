import { readFileSync } from 'node:fs';
import { Ajv, type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import { parse } from 'yaml';

/**
 * Validates request bodies against a vendor's committed OpenAPI 3.0 document. Every object schema
 * that lists its properties is made closed (`additionalProperties: false`), so a field the
 * vendor's schema does not know is a violation, not silently accepted. Schemas are compiled by
 * ajv, which follows `$ref` cycles (Xero has ten) instead of skipping validation as Prism does.
 */
export interface OpenApiValidator {
  /** Violations of the body of `method path` (a concrete path such as `/Invoices`); throws if the spec has no such operation or body. */
  validate(method: string, path: string, body: unknown): string[];
}

type Json = Record<string, unknown>;

function closeObjects(node: unknown): void {
  if (Array.isArray(node)) return node.forEach(closeObjects);
  if (node === null || typeof node !== 'object') return;
  const schema = node as Json;
  // OpenAPI 3.0 allows `nullable` beside a `$ref`; JSON Schema (ajv) only beside a `type`.
  if (schema.nullable !== undefined && schema.type === undefined) delete schema.nullable;
  if (schema.properties && typeof schema.properties === 'object' && schema.additionalProperties === undefined) schema.additionalProperties = false;
  for (const value of Object.values(schema)) closeObjects(value);
}

export function openApiValidator(specPath: string, options: { pathPrefix?: string } = {}): OpenApiValidator {
  const text = readFileSync(specPath, 'utf8');
  const spec = (specPath.endsWith('.json') ? JSON.parse(text) : parse(text, { maxAliasCount: -1 })) as Json;
  const components = (spec.components ?? {}) as Json;
  closeObjects(components.schemas);
  const ajv = new Ajv({ strict: false, allErrors: true, validateFormats: true, discriminator: false });
  addFormats.default(ajv);
  // Formats OpenAPI documents name beyond JSON Schema's: any number is a decimal, any integer an int16.
  ajv.addFormat('decimal', { type: 'number', validate: () => true });
  for (const format of ['int16', 'int32', 'int64', 'double', 'float']) ajv.addFormat(format, { type: 'number', validate: () => true });
  // OpenAPI keywords and vendor extensions that JSON Schema does not define.
  ajv.addVocabulary(['example', 'xml', 'externalDocs', 'x-is-money', 'x-is-msdate', 'x-is-msdate-time', 'x-is-datetime', 'x-ms-navigationProperty', 'x-ms-docs-key-type']);
  ajv.addSchema({ $id: 'spec', components }, 'spec');
  const operations = Object.entries((spec.paths ?? {}) as Record<string, Json>).map(([template, item]) => ({
    template,
    pattern: new RegExp(`^${(options.pathPrefix ?? '') + template.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\\?\{[^}]+\\?\}/g, '[^/]+')}$`),
    item,
  }));
  const compiled = new Map<string, ValidateFunction>();

  return {
    validate(method, path, body) {
      const operation = operations.find((candidate) => candidate.pattern.test(path) && candidate.item[method.toLowerCase()]);
      if (!operation) throw new Error(`the spec has no ${method} operation matching ${path}`);
      const key = `${method} ${operation.template}`;
      let validate = compiled.get(key);
      if (!validate) {
        let requestBody = (operation.item[method.toLowerCase()] as Json).requestBody as Json | undefined;
        if (requestBody?.$ref) requestBody = ((components.requestBodies ?? {}) as Json)[(requestBody.$ref as string).split('/').pop()!] as Json;
        const schema = (((requestBody?.content ?? {}) as Json)['application/json'] as Json | undefined)?.schema as Json | undefined;
        if (!schema) throw new Error(`the spec's ${key} takes no JSON body`);
        const rewritten = JSON.parse(JSON.stringify(schema).replaceAll('"#/components/', '"spec#/components/')) as Json;
        closeObjects(rewritten);
        validate = ajv.compile(rewritten);
        compiled.set(key, validate);
      }
      if (validate(body)) return [];
      return (validate.errors ?? []).map((error) =>
        error.keyword === 'additionalProperties'
          ? `${error.instancePath || '/'}: unknown field ${JSON.stringify(error.params.additionalProperty)}`
          : `${error.instancePath || '/'}: ${error.message}`,
      );
    },
  };
}
