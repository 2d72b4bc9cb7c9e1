import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import {
  currencyExponent,
  erpDocumentTypes,
  erpReference,
  majorAmount,
  majorUnits,
  type ErpDocumentType,
} from '../../../../src/domain/index.js';

/** Parses a major-unit decimal back to minor units with BigInt arithmetic only (no floats). */
function toMinor(major: string, exponent: number): bigint {
  const match = /^(-?)(\d+)(?:\.(\d+))?$/.exec(major);
  if (!match) throw new Error(`not a decimal: ${major}`);
  const [, sign, whole, fraction = ''] = match;
  expect(fraction.length).toBe(exponent);
  const magnitude = BigInt(whole! + fraction);
  return sign === '-' ? -magnitude : magnitude;
}

describe('majorUnits', () => {
  it.each<[number, string, string]>([
    [12_345, 'USD', '123.45'],
    [5, 'USD', '0.05'],
    [-5, 'USD', '-0.05'],
    [50, 'USD', '0.50'],
    [100, 'USD', '1.00'],
    [-12_345, 'EUR', '-123.45'],
    [0, 'USD', '0.00'],
    [500, 'JPY', '500'],
    [0, 'JPY', '0'],
    [-7, 'JPY', '-7'],
    [12_345, 'KWD', '12.345'],
    [5, 'KWD', '0.005'],
    [-1_000, 'BHD', '-1.000'],
    [0, 'KWD', '0.000'],
    [1, 'CLF', '0.0001'],
    [Number.MAX_SAFE_INTEGER, 'USD', '90071992547409.91'],
  ])('%i %s → %s', (minor, currency, major) => {
    expect(majorUnits(minor, currency)).toBe(major);
  });

  it('refuses an unknown currency', () => {
    expect(() => majorUnits(100, 'XXX')).toThrow(expect.objectContaining({ code: 'INVALID_CURRENCY' }));
  });

  it('round-trips: the decimal parses back to the same minor units (USD, JPY, KWD)', () => {
    fc.assert(
      fc.property(fc.maxSafeInteger(), fc.constantFrom('USD', 'JPY', 'KWD'), (minor, currency) => {
        const major = majorUnits(minor, currency);
        expect(toMinor(major, currencyExponent(currency))).toBe(BigInt(minor));
      }),
      { numRuns: 500 },
    );
  });
});

describe('majorAmount', () => {
  it.each<[number, string, number]>([
    [12_345, 'USD', 123.45],
    [-5, 'USD', -0.05],
    [500, 'JPY', 500],
    [12_345, 'KWD', 12.345],
    [0, 'USD', 0],
  ])('%i %s → %d', (minor, currency, amount) => {
    expect(majorAmount(minor, currency)).toBe(amount);
  });
});

describe('erpReference', () => {
  const id = '0a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f9';

  it.each<[ErpDocumentType, { id: string; number?: string | null }, string]>([
    ['customer', { id }, 'CUS-0A1B2C3D4E5F6071'],
    ['invoice', { id, number: 'INV-0A1B2C3D-000042' }, 'INV-0A1B2C3D-000042'],
    ['invoice', { id, number: null }, 'INV-0A1B2C3D4E5F6071'],
    ['invoice', { id }, 'INV-0A1B2C3D4E5F6071'],
    ['credit_note', { id, number: 'CN-0001' }, 'CN-0A1B2C3D4E5F6071'],
    ['payment', { id }, 'PAY-0A1B2C3D4E5F6071'],
    ['refund', { id }, 'RF-0A1B2C3D4E5F6071'],
  ])('%s %j → %s', (type, document, reference) => {
    expect(erpReference(type, document)).toBe(reference);
  });

  it('gives every type of document a distinct reference for one id', () => {
    const references = erpDocumentTypes.map((type) => erpReference(type, { id }));
    expect(new Set(references).size).toBe(erpDocumentTypes.length);
  });

  it('stays within 20 characters of [A-Z0-9-] for any UUID and invoice number', () => {
    fc.assert(
      fc.property(fc.uuid(), fc.constantFrom(...erpDocumentTypes), fc.integer({ min: 1, max: 999_999 }), (uuid, type, sequence) => {
        const number = `INV-${uuid.slice(0, 8).toUpperCase()}-${String(sequence).padStart(6, '0')}`;
        for (const document of [{ id: uuid }, { id: uuid, number }]) {
          const reference = erpReference(type, document);
          expect(reference.length).toBeLessThanOrEqual(20);
          expect(reference).toMatch(/^[A-Z0-9-]+$/);
        }
      }),
      { numRuns: 200 },
    );
  });
});
