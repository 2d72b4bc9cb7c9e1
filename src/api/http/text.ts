import { z } from '@hono/zod-openapi';

/*
 * The text rules of the API (README, "Text"). Refused: control characters, which PostgreSQL (NUL)
 * or whatever shows the text later (terminals, CSV exports, ERPs) mishandles; bidirectional
 * embeddings, overrides and isolates (U+202A–U+202E, U+2066–U+2069), which make text display as
 * something it is not; and lone surrogates, which are not Unicode and which PostgreSQL refuses.
 */

const lineBreaks = new Set([0x09, 0x0a, 0x0d]);

const isLoneSurrogateAt = (value: string, index: number): { lone: boolean; width: number } => {
  const unit = value.charCodeAt(index);
  if (unit >= 0xdc00 && unit <= 0xdfff) return { lone: true, width: 1 };
  if (unit < 0xd800 || unit > 0xdbff) return { lone: false, width: 1 };
  const next = value.charCodeAt(index + 1);
  return next >= 0xdc00 && next <= 0xdfff ? { lone: false, width: 2 } : { lone: true, width: 1 };
};

const codePoint = (unit: number) => `U+${unit.toString(16).toUpperCase().padStart(4, '0')}`;

/** Why `value` is not acceptable text, naming its first offending character; undefined when it is. */
function forbiddenCharacter(value: string, options: { multiline?: boolean } = {}): string | undefined {
  for (let index = 0; index < value.length; ) {
    const unit = value.charCodeAt(index);
    const { lone, width } = isLoneSurrogateAt(value, index);
    if (lone) return `contains a lone surrogate (${codePoint(unit)}), which is not Unicode text`;
    if ((unit < 0x20 || (unit >= 0x7f && unit <= 0x9f)) && !(options.multiline && lineBreaks.has(unit))) {
      return `contains the control character ${codePoint(unit)}${lineBreaks.has(unit) ? ' (this field is a single line)' : ''}`;
    }
    if ((unit >= 0x202a && unit <= 0x202e) || (unit >= 0x2066 && unit <= 0x2069)) {
      return `contains the bidirectional control ${codePoint(unit)}`;
    }
    index += width;
  }
  return undefined;
}

/** Why PostgreSQL would refuse `value` (NUL, a lone surrogate); undefined when it would store it. */
function unstorableCharacter(value: string): string | undefined {
  for (let index = 0; index < value.length; ) {
    const { lone, width } = isLoneSurrogateAt(value, index);
    if (lone) return `contains a lone surrogate (${codePoint(value.charCodeAt(index))}), which is not Unicode text`;
    if (value.charCodeAt(index) === 0) return 'contains NUL (U+0000)';
    index += width;
  }
  return undefined;
}

/** A refinement refusing forbidden characters, for string schemas that are not free text (URLs). */
export const refuseForbiddenCharacters = (options: { multiline?: boolean } = {}) => (value: string, context: z.RefinementCtx) => {
  const problem = forbiddenCharacter(value, options);
  if (problem) context.addIssue({ code: 'custom', message: problem });
};

const forbiddenClass = (multiline: boolean) =>
  `${multiline ? '\\u0000-\\u0008\\u000b\\u000c\\u000e-\\u001f' : '\\u0000-\\u001f'}\\u007f-\\u009f\\u202a-\\u202e\\u2066-\\u2069`;

/**
 * A free-text field: NFC-normalized and trimmed (the stored value is the normalized one), at least
 * one character that is not whitespace, at most `maxLength` characters once normalized, and none
 * of the forbidden characters. The OpenAPI document shows it as a string with `minLength`,
 * `maxLength` and a `pattern` for the characters (the checks are zod checks, not transforms, so
 * request and response schemas keep their types).
 */
export function textSchema(options: { maxLength: number; multiline?: boolean }) {
  const multiline = options.multiline ?? false;
  const forbidden = forbiddenClass(multiline);
  return z
    .string()
    .superRefine(refuseForbiddenCharacters({ multiline }))
    .normalize('NFC')
    .trim()
    .min(1, 'must not be blank')
    .max(options.maxLength)
    .openapi({ pattern: `^[^${forbidden}]*[^\\s\\ufeff${forbidden}][^${forbidden}]*$` });
}

/** Bounds of a free-form JSON object, such as a usage event's `properties`. */
export interface JsonObjectLimits {
  /** Its compact JSON serialization, in UTF-8 bytes. */
  maxBytes: number;
  /** Keys of any one object in it. */
  maxKeys: number;
  maxKeyLength: number;
  /** Objects and arrays nested in one another, the object itself being the first. */
  maxDepth: number;
}

/**
 * A free-form JSON object within `limits`, whose keys and strings at every depth PostgreSQL can
 * store (jsonb refuses `\u0000` and lone surrogates). A bad key or string is named by its path.
 */
export function jsonObjectSchema(limits: JsonObjectLimits) {
  return z
    .record(z.string(), z.unknown())
    .superRefine((object, context) => {
      const issue = (path: (string | number)[], message: string) => context.addIssue({ code: 'custom', path, message });
      const walk = (value: unknown, path: (string | number)[], depth: number): boolean => {
        if (typeof value === 'string') {
          const problem = unstorableCharacter(value);
          if (problem) issue(path, problem);
          return !problem;
        }
        if (typeof value !== 'object' || value === null) return true;
        if (depth > limits.maxDepth) {
          issue([], `nests objects and arrays more than ${limits.maxDepth} deep`);
          return false;
        }
        if (Array.isArray(value)) return value.every((item, index) => walk(item, [...path, index], depth + 1));
        const entries = Object.entries(value);
        if (entries.length > limits.maxKeys) {
          issue(path, `has more than ${limits.maxKeys} keys`);
          return false;
        }
        return entries.every(([key, item]) => {
          const character = unstorableCharacter(key);
          const problem = key.length > limits.maxKeyLength ? `has a key longer than ${limits.maxKeyLength} characters` : character && `has a key that ${character}`;
          if (problem) issue(path, problem);
          return !problem && walk(item, [...path, key], depth + 1);
        });
      };
      if (walk(object, [], 1) && Buffer.byteLength(JSON.stringify(object)) > limits.maxBytes) {
        issue([], `is larger than ${limits.maxBytes} bytes as JSON`);
      }
    })
    .openapi({ maxProperties: limits.maxKeys });
}
