import { describe, expect, it } from '@jest/globals';
import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import { jsonObjectSchema, textSchema } from '../../src/api/http/text.js';

const line = textSchema({ maxLength: 5 });
const paragraph = textSchema({ maxLength: 20, multiline: true });

/** What a field of the schema answers: the stored value, or the messages of its issues. */
function parsed(schema: z.ZodType, value: unknown) {
  const result = schema.safeParse(value);
  return result.success ? { stored: result.data } : { refused: result.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`.replace(/^: /, '')) };
}

describe('a free-text field', () => {
  it.each([
    ['plain text', 'Acme', { stored: 'Acme' }],
    ['text around spaces, trimmed', '  Acme \u00a0', { stored: 'Acme' }],
    ['a decomposed é, stored composed (NFC)', 'Cafe\u0301', { stored: 'Caf\u00e9' }],
    ['5 characters once composed, though 6 as sent', 'e\u0301e\u0301e\u0301', { stored: '\u00e9\u00e9\u00e9' }],
    ['a letter outside the BMP (a surrogate pair)', 'a\u{1f600}', { stored: 'a\u{1f600}' }],
    ['left-to-right and right-to-left marks', 'a\u200eb\u200f', { stored: 'a\u200eb\u200f' }],
    ['6 characters once composed', 'abcde\u0301f', { refused: ['Too big: expected string to have <=5 characters'] }],
    ['nothing', '', { refused: ['must not be blank'] }],
    ['only whitespace', ' \u3000', { refused: ['must not be blank'] }],
    ['NUL', 'a\u0000b', { refused: ['contains the control character U+0000'] }],
    ['a C0 control', 'a\u001bb', { refused: ['contains the control character U+001B'] }],
    ['DEL', 'a\u007fb', { refused: ['contains the control character U+007F'] }],
    ['a C1 control', 'a\u0085b', { refused: ['contains the control character U+0085'] }],
    ['a tab in a single line', 'a\tb', { refused: ['contains the control character U+0009 (this field is a single line)'] }],
    ['a newline in a single line', 'a\nb', { refused: ['contains the control character U+000A (this field is a single line)'] }],
    ['a right-to-left override', 'a\u202eb', { refused: ['contains the bidirectional control U+202E'] }],
    ['a left-to-right embedding', '\u202aab', { refused: ['contains the bidirectional control U+202A'] }],
    ['a first-strong isolate', 'a\u2068b', { refused: ['contains the bidirectional control U+2068'] }],
    ['a lone high surrogate', 'a\ud800b', { refused: ['contains a lone surrogate (U+D800), which is not Unicode text'] }],
    ['a lone low surrogate at the end', 'ab\udc00', { refused: ['contains a lone surrogate (U+DC00), which is not Unicode text'] }],
    ['a number', 42, { refused: ['Invalid input: expected string, received number'] }],
  ])('of one line: %s', (_, value, expected) => {
    expect(parsed(line, value)).toEqual(expected);
  });

  it.each([
    ['lines, tabs and CRLF inside, trimmed at the ends', '\nDear\tteam,\r\nthanks\n', { stored: 'Dear\tteam,\r\nthanks' }],
    ['only line breaks', '\n\r\n\t', { refused: ['must not be blank'] }],
    ['NUL', 'a\nb\u0000', { refused: ['contains the control character U+0000'] }],
    ['a vertical tab', 'a\u000bb', { refused: ['contains the control character U+000B'] }],
    ['a form feed', 'a\u000cb', { refused: ['contains the control character U+000C'] }],
    ['a pop directional isolate', 'a\n\u2069', { refused: ['contains the bidirectional control U+2069'] }],
    ['a lone surrogate', '\ud83d\nb', { refused: ['contains a lone surrogate (U+D83D), which is not Unicode text'] }],
  ])('of several lines: %s', (_, value, expected) => {
    expect(parsed(paragraph, value)).toEqual(expected);
  });

  it('is documented as a string with its lengths and a pattern that agrees with the rules', () => {
    const app = new OpenAPIHono();
    const body = z.strictObject({ name: line.openapi({ example: 'Acme' }), note: paragraph.optional() }).openapi('Text');
    app.openapi(
      createRoute({ method: 'post', path: '/text', request: { body: { content: { 'application/json': { schema: body } } } }, responses: { 204: { description: 'ok' } } }),
      (c) => c.body(null, 204),
    );
    const schemas = app.getOpenAPI31Document({ openapi: '3.1.0', info: { title: 'text', version: '1' } }).components?.schemas ?? {};
    const { name, note } = (schemas['Text'] as { properties: Record<string, { type: string; minLength: number; maxLength: number; pattern: string; example?: string }> }).properties;
    expect(name).toEqual({ type: 'string', minLength: 1, maxLength: 5, pattern: expect.any(String), example: 'Acme' });
    expect(note).toEqual({ type: 'string', minLength: 1, maxLength: 20, pattern: expect.any(String) });
    const matches = (pattern: string, value: string) => new RegExp(pattern, 'u').test(value);
    for (const value of ['Acme', ' a ', 'Caf\u00e9', 'a\u{1f600}']) expect([value, matches(name!.pattern, value)]).toEqual([value, true]);
    for (const value of ['a\u0000', 'a\tb', 'a\u0085', 'a\u202eb', 'a\u2066', '   ', '\u00a0\ufeff']) expect([value, matches(name!.pattern, value)]).toEqual([value, false]);
    expect([matches(note!.pattern, 'a\n\tb\r\n'), matches(note!.pattern, 'a\u000bb'), matches(note!.pattern, '\n\n')]).toEqual([true, false, false]);
  });
});

describe('a free-form JSON object', () => {
  const properties = jsonObjectSchema({ maxBytes: 64, maxKeys: 3, maxKeyLength: 4, maxDepth: 3 });

  it.each([
    ['flat values', { gb: 30, user: 'u1', ok: true }, { stored: { gb: 30, user: 'u1', ok: true } }],
    ['controls and bidi controls in strings (machine data: only what PostgreSQL refuses is refused)', { a: 'x\ty\u202e' }, { stored: { a: 'x\ty\u202e' } }],
    ['objects and arrays 3 deep', { a: { b: [1] } }, { stored: { a: { b: [1] } } }],
    ['objects and arrays 4 deep', { a: { b: [[1]] } }, { refused: ['nests objects and arrays more than 3 deep'] }],
    ['4 keys', { a: 1, b: 2, c: 3, d: 4 }, { refused: ['has more than 3 keys'] }],
    ['4 keys in a nested object', { a: { a: 1, b: 2, c: 3, d: 4 } }, { refused: ['a: has more than 3 keys'] }],
    ['a key of 5 characters', { abcde: 1 }, { refused: ['has a key longer than 4 characters'] }],
    ['65 bytes as JSON', { a: 'x'.repeat(57) }, { refused: ['is larger than 64 bytes as JSON'] }],
    ['64 bytes as JSON', { a: 'x'.repeat(56) }, { stored: { a: 'x'.repeat(56) } }],
    ['64 bytes as JSON, counted in UTF-8', { a: '\u00e9'.repeat(29) }, { refused: ['is larger than 64 bytes as JSON'] }],
    ['NUL in a string', { a: 'x\u0000' }, { refused: ['a: contains NUL (U+0000)'] }],
    ['a lone surrogate in a nested string', { a: { b: ['ok', '\udfff'] } }, { refused: ['a.b.1: contains a lone surrogate (U+DFFF), which is not Unicode text'] }],
    ['NUL in a key', { 'a\u0000': 1 }, { refused: ['has a key that contains NUL (U+0000)'] }],
    ['a lone surrogate in a nested key', { a: { '\ud800': 1 } }, { refused: ['a: has a key that contains a lone surrogate (U+D800), which is not Unicode text'] }],
    ['an array', [1], { refused: ['Invalid input: expected record, received array'] }],
  ])('%s', (_, value, expected) => {
    expect(parsed(properties, value)).toEqual(expected);
  });
});
