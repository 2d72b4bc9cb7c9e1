import { describe, expect, it } from '@jest/globals';
import { ConfigError, loadConfig } from '../../src/config.js';
import { SecretsUnavailableError, createSecretBox, generateSecretKeyEntry, parseSecretKeys } from '../../src/secrets.js';

const keyOf = (byte: number) => Buffer.alloc(32, byte).toString('base64');
const k1 = `k1:${keyOf(1)}`;
const k2 = `k2:${keyOf(2)}`;
const context = 'erp_integrations:6f1e0c2a:credentials';
const plaintext = JSON.stringify({ refreshToken: 'AB11-secret-refresh-token', realmId: '9130' });

describe('createSecretBox', () => {
  const box = createSecretBox(k1);

  it('decrypts what it encrypted', () => {
    expect(box.decrypt(box.encrypt(plaintext, context), context)).toBe(plaintext);
    expect(box.decrypt(box.encrypt('', context), context)).toBe('');
    expect(box.decrypt(box.encrypt('naïve 🔑 ключ', context), context)).toBe('naïve 🔑 ключ');
  });

  it('seals under its key id, with a fresh IV each time, and never shows the plaintext', () => {
    const first = box.encrypt(plaintext, context);
    const second = box.encrypt(plaintext, context);
    expect(first).not.toBe(second);
    for (const sealed of [first, second]) {
      expect(sealed).toMatch(/^k1\.[A-Za-z0-9_-]+$/);
      expect(sealed).not.toContain('secret-refresh-token');
      expect(Buffer.from(sealed.slice(3), 'base64url').toString('latin1')).not.toContain('secret-refresh-token');
      // 12-byte IV + 16-byte tag + the ciphertext, as long as the plaintext.
      expect(Buffer.from(sealed.slice(3), 'base64url').length).toBe(12 + 16 + Buffer.byteLength(plaintext));
    }
    expect(Buffer.from(first.slice(3), 'base64url').subarray(0, 12)).not.toEqual(Buffer.from(second.slice(3), 'base64url').subarray(0, 12));
  });

  it('refuses to decrypt under another context (a value copied to another row or field)', () => {
    const sealed = box.encrypt(plaintext, context);
    expect(() => box.decrypt(sealed, 'erp_integrations:6f1e0c2a:access_token')).toThrow();
    expect(() => box.decrypt(sealed, '')).toThrow();
    expect(box.decrypt(sealed, context)).toBe(plaintext);
  });

  it.each<[string, (bytes: Buffer) => Buffer]>([
    ['a flipped ciphertext bit', (bytes) => Buffer.concat([bytes.subarray(0, 30), Buffer.from([bytes[30]! ^ 0x01]), bytes.subarray(31)])],
    ['a flipped tag bit', (bytes) => Buffer.concat([bytes.subarray(0, 12), Buffer.from([bytes[12]! ^ 0x80]), bytes.subarray(13)])],
    ['a flipped IV bit', (bytes) => Buffer.concat([Buffer.from([bytes[0]! ^ 0x01]), bytes.subarray(1)])],
    ['a truncated ciphertext', (bytes) => bytes.subarray(0, bytes.length - 1)],
    ['an appended byte', (bytes) => Buffer.concat([bytes, Buffer.from([0])])],
  ])('refuses %s', (_, tamper) => {
    const sealed = box.encrypt(plaintext, context);
    const tampered = `k1.${tamper(Buffer.from(sealed.slice(3), 'base64url')).toString('base64url')}`;
    expect(tampered).not.toBe(sealed);
    expect(() => box.decrypt(tampered, context)).toThrow();
  });

  it('refuses a value sealed by a box with another key under the same id', () => {
    const impostor = createSecretBox(`k1:${keyOf(9)}`);
    expect(() => box.decrypt(impostor.encrypt(plaintext, context), context)).toThrow();
  });

  it('rotates: new keys first encrypt, old keys still decrypt', () => {
    const old = createSecretBox(k1);
    const rotated = createSecretBox(`${k2},${k1}`);
    expect(old.currentKeyId).toBe('k1');
    expect(rotated.currentKeyId).toBe('k2');
    const sealedByOld = old.encrypt(plaintext, context);
    expect(rotated.decrypt(sealedByOld, context)).toBe(plaintext);
    const sealedByRotated = rotated.encrypt(plaintext, context);
    expect(sealedByRotated.startsWith('k2.')).toBe(true);
    expect(rotated.decrypt(sealedByRotated, context)).toBe(plaintext);
    expect(() => old.decrypt(sealedByRotated, context)).toThrow('secret sealed under key "k2", which LEDGERFLOW_SECRET_KEYS does not hold');
  });

  it('names an unknown key id, and refuses a value without one', () => {
    const sealed = createSecretBox(`retired:${keyOf(7)}`).encrypt(plaintext, context);
    expect(() => box.decrypt(sealed, context)).toThrow('secret sealed under key "retired", which LEDGERFLOW_SECRET_KEYS does not hold');
    expect(() => box.decrypt('k1', context)).toThrow('not a sealed secret (expected <key id>.<payload>)');
  });

  it('refuses a value whose authentication tag was cut short', () => {
    const sealed = box.encrypt('', context);
    const [id, payload] = sealed.split('.') as [string, string];
    const truncated = `${id}.${Buffer.from(payload, 'base64url').subarray(0, 16).toString('base64url')}`;
    expect(() => box.decrypt(truncated, context)).toThrow('sealed secret is truncated');
  });

  it.each([undefined, ''])('without keys (%j) constructs, then throws SecretsUnavailableError on use', (value) => {
    const unavailable = createSecretBox(value);
    expect(unavailable.currentKeyId).toBe('');
    expect(() => unavailable.encrypt(plaintext, context)).toThrow(SecretsUnavailableError);
    expect(() => unavailable.decrypt('k1.AAAA', context)).toThrow(SecretsUnavailableError);
    expect(() => unavailable.encrypt(plaintext, context)).toThrow('LEDGERFLOW_SECRET_KEYS is not set');
  });
});

describe('parseSecretKeys', () => {
  it('parses entries in order, trimming around commas', () => {
    const parsed = parseSecretKeys(`${k2}, ${k1}`);
    expect(parsed.map((entry) => entry.id)).toEqual(['k2', 'k1']);
    expect(parsed.map((entry) => entry.key)).toEqual([Buffer.alloc(32, 2), Buffer.alloc(32, 1)]);
  });

  it.each<[string, string]>([
    ['k1', 'entry 1: expected <key id>:<base64 key>'],
    [`:${keyOf(1)}`, 'entry 1: expected <key id>:<base64 key>'],
    ['k1:', 'entry 1: expected <key id>:<base64 key>'],
    [`k1:${keyOf(1)}:extra`, 'entry 1: expected <key id>:<base64 key>'],
    [`key.one:${keyOf(1)}`, 'entry 1: expected <key id>:<base64 key>'],
    [`${'k'.repeat(33)}:${keyOf(1)}`, 'entry 1: expected <key id>:<base64 key>'],
    [`${k1},`, 'entry 2: expected <key id>:<base64 key>'],
    [`${k2},k1:${Buffer.alloc(16, 1).toString('base64')}`, 'entry 2 (k1): the key must be 32 bytes, base64-encoded'],
    [`k1:${Buffer.alloc(33, 1).toString('base64')}`, 'entry 1 (k1): the key must be 32 bytes, base64-encoded'],
  ])('refuses %j', (value, message) => {
    expect(() => parseSecretKeys(value)).toThrow(`LEDGERFLOW_SECRET_KEYS ${message}`);
    expect(() => createSecretBox(value)).toThrow(message);
  });
});

describe('generateSecretKeyEntry', () => {
  it('yields a fresh 32-byte key that parses, works and passes the configuration check', () => {
    const entry = generateSecretKeyEntry('dev_2027-01');
    const other = generateSecretKeyEntry('dev_2027-01');
    expect(entry).not.toBe(other);
    const [parsed] = parseSecretKeys(entry);
    expect(parsed?.id).toBe('dev_2027-01');
    expect(parsed?.key.length).toBe(32);
    const box = createSecretBox(entry);
    expect(box.decrypt(box.encrypt(plaintext, context), context)).toBe(plaintext);
    expect(loadConfig({ LEDGERFLOW_SECRET_KEYS: entry }).LEDGERFLOW_SECRET_KEYS).toBe(entry);
    expect(loadConfig({ LEDGERFLOW_SECRET_KEYS: `${entry},${other}` }).LEDGERFLOW_SECRET_KEYS).toBe(`${entry},${other}`);
  });

  it('is matched against a configuration check that refuses what parseSecretKeys refuses', () => {
    expect(() => loadConfig({ LEDGERFLOW_SECRET_KEYS: `k1:${Buffer.alloc(16, 1).toString('base64')}` })).toThrow(ConfigError);
    expect(() => loadConfig({ LEDGERFLOW_SECRET_KEYS: 'k1' })).toThrow(ConfigError);
  });
});
