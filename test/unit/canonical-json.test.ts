import { describe, expect, it } from '@jest/globals';
import { canonicalJson, comparableBody } from '../../src/api/http/canonical-json.js';

describe('canonicalJson', () => {
  it.each([
    [{ b: 1, a: [3, { d: null, c: 'x' }] }, '{"a":[3,{"c":"x","d":null}],"b":1}'],
    [[{ z: true, y: false }], '[{"y":false,"z":true}]'],
    ['a "quoted"\nline', '"a \\"quoted\\"\\nline"'],
    [{ 'é': 1, e: 2, E: 3 }, '{"E":3,"e":2,"é":1}'],
    [1.5e21, '1.5e+21'],
    [null, 'null'],
  ])('writes %j as %s', (value, canonical) => {
    expect(canonicalJson(value)).toBe(canonical);
  });
});

describe('comparableBody', () => {
  it('gives JSON that differs only in spacing and key order one form', () => {
    expect(comparableBody('{ "url" : "https://x.test",\n\t"events": ["a", "b"] }')).toBe(comparableBody('{"events":["a","b"],"url":"https://x.test"}'));
  });

  it('keeps what differs: array order, values, numbers written differently but equal as JSON stay equal', () => {
    expect(comparableBody('{"events":["b","a"]}')).not.toBe(comparableBody('{"events":["a","b"]}'));
    expect(comparableBody('{"amount":100}')).not.toBe(comparableBody('{"amount":"100"}'));
    expect(comparableBody('{"amount":1.0}')).toBe(comparableBody('{"amount":1}'));
  });

  it('compares a body that is not JSON by its bytes', () => {
    expect(comparableBody('')).toBe('');
    expect(comparableBody('name=a&x=1')).toBe('name=a&x=1');
    expect(comparableBody('{"a":1')).not.toBe(comparableBody('{"a":1 '));
  });
});
