import { ErpError } from './errors.js';
import { classifyByStatus, expectOk, type ErpHttp, type ErpHttpResponse } from './http.js';
import type { AccessGrant, AccessTokens } from './tokens.js';

export interface RefreshTokenGrantOptions<C> {
  /** The vendor as error messages name it. */
  vendor: string;
  tokenUrl: string;
  /** The latest stored credentials: the refresh token is the one to spend. */
  credentials: C;
  /** HTTP Basic (RFC 6749 §2.3.1) or `client_id`/`client_secret` form fields, whichever the vendor takes. */
  clientAuthentication: 'basic' | 'form';
  /** Used when the answer leaves `expires_in` out. */
  defaultLifetimeSeconds: number;
  /** Statuses that mean the grant itself was refused (invalid_grant, invalid_client); 400 and 401 unless given. */
  refusedStatuses?: readonly number[];
  /** What a refusal names as its reason; the OAuth `error` code unless given. */
  refusalReason?: (response: ErpHttpResponse) => string;
  /** The classification of any other non-2xx; the OAuth `error` code by status unless given. */
  classify?: (response: ErpHttpResponse) => ErpError;
}

/**
 * The OAuth 2.0 refresh-token grant (RFC 6749 §6). The vendors rotate the refresh token, so a new
 * one comes back as the credentials to keep: the spent one no longer works. A refused grant is
 * `auth` (the refresh token was revoked or expired: only reconnecting helps), and its message
 * carries the vendor's reason but never a secret.
 */
export async function refreshTokenGrant<C extends { clientId: string; clientSecret: string; refreshToken: string }>(
  http: ErpHttp,
  options: RefreshTokenGrantOptions<C>,
): Promise<AccessGrant<C>> {
  const { credentials } = options;
  const basic = options.clientAuthentication === 'basic';
  const response = await http.send({
    method: 'POST',
    url: options.tokenUrl,
    headers: {
      ...(basic ? { authorization: `Basic ${Buffer.from(`${credentials.clientId}:${credentials.clientSecret}`).toString('base64')}` } : {}),
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams({
      grant_type: 'refresh_token',
      ...(basic ? {} : { client_id: credentials.clientId, client_secret: credentials.clientSecret }),
      refresh_token: credentials.refreshToken,
    }).toString(),
  });
  const answer = (typeof response.body === 'object' && response.body !== null ? response.body : {}) as { error?: unknown; access_token?: unknown; expires_in?: unknown; refresh_token?: unknown };
  const error = typeof answer.error === 'string' ? answer.error : undefined;
  if ((options.refusedStatuses ?? [400, 401]).includes(response.status)) {
    const reason = options.refusalReason?.(response) ?? error ?? 'no reason given';
    throw new ErpError('auth', `${options.vendor} refused the refresh token (${response.status}): ${reason}; reconnect the integration`, { status: response.status });
  }
  expectOk(response, options.classify ?? ((failed) => classifyByStatus(failed, error ?? `token endpoint answered ${failed.status}`)));
  if (typeof answer.access_token !== 'string' || answer.access_token === '') {
    throw new ErpError('transient', `the ${options.vendor} token endpoint answered without an access token`, { status: response.status });
  }
  const rotated = typeof answer.refresh_token === 'string' && answer.refresh_token !== '' && answer.refresh_token !== credentials.refreshToken ? answer.refresh_token : null;
  return {
    accessToken: answer.access_token,
    expiresInSeconds: typeof answer.expires_in === 'number' ? answer.expires_in : options.defaultLifetimeSeconds,
    ...(rotated === null ? {} : { credentials: { ...credentials, refreshToken: rotated } }),
  };
}

/**
 * Sends with the integration's current token (a bearer token, or SAP's session cookie). A 401
 * means the vendor dropped it before it expired here: one fresh token and one resend, no more,
 * so a refusal that persists comes back to the caller, which classifies whatever status it gets.
 */
export async function sendWithFreshTokenOnce<C>(
  tokens: AccessTokens<C>,
  obtain: (credentials: C) => Promise<AccessGrant<C>>,
  send: (token: string) => Promise<ErpHttpResponse>,
): Promise<ErpHttpResponse> {
  const token = await tokens.get(obtain);
  const response = await send(token);
  if (response.status !== 401) return response;
  return send(await tokens.get(obtain, { rejected: token }));
}
