import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { SignJWT } from 'jose';
import { startTestStack, testJwtSecret, type TestStack } from '../support/stack.js';
import { expectProblem } from './support/problems.js';
import { bearer, signJwt, unique } from './support/world.js';

let stack: TestStack;

beforeAll(async () => {
  stack = await startTestStack();
});
afterAll(async () => {
  await stack.stop();
});

const hour = 3_600;
const nowSeconds = () => Math.floor(Date.now() / 1000);

/** A platform_admin JWT signed with the stack's secret, with exactly these time claims. */
function jwtWith(claims: { iat?: number; exp?: number }): Promise<string> {
  const token = new SignJWT({ platform_role: 'platform_admin' }).setProtectedHeader({ alg: 'HS256' }).setSubject(unique('person'));
  if (claims.iat !== undefined) token.setIssuedAt(claims.iat);
  if (claims.exp !== undefined) token.setExpirationTime(claims.exp);
  return token.sign(new TextEncoder().encode(testJwtSecret));
}

const readCatalog = (token: string) => stack.request('GET', '/v1/applications', { headers: { authorization: bearer(token) } });

describe("people's JWTs", () => {
  it('accept a token as the test harness mints it (issued now, expiring in an hour)', async () => {
    expect((await readCatalog(await signJwt(unique('person'), 'platform_admin'))).status).toBe(200);
  });

  it('accept a token that lives at most JWT_MAX_LIFETIME_SECONDS (24 h by default)', async () => {
    const iat = nowSeconds() - 60;
    expect((await readCatalog(await jwtWith({ iat, exp: iat + 24 * hour }))).status).toBe(200);
    expect((await readCatalog(await jwtWith({ exp: nowSeconds() + 23 * hour }))).status).toBe(200);
  });

  it.each([
    ['no exp', () => ({ iat: nowSeconds() })],
    ['no exp and no iat', () => ({})],
    ['exp - iat over 24 h', () => ({ iat: nowSeconds() - 60, exp: nowSeconds() + 24 * hour })],
    ['exp - iat over 24 h, issued long ago', () => ({ iat: nowSeconds() - 48 * hour, exp: nowSeconds() + hour })],
    ['no iat and exp more than 24 h ahead', () => ({ exp: nowSeconds() + 25 * hour })],
  ])('refuse a token with %s: 401 invalid_credentials', async (_, claims) => {
    const response = await readCatalog(await jwtWith(claims()));
    expect(response.headers.get('www-authenticate')).toBe('Bearer error="invalid_token"');
    await expectProblem(response, 401, 'invalid_credentials');
  });
});
