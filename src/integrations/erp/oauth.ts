import { ErpError } from './errors.js';
import { classifyByStatus, expectOk, type ErpHttp, type ErpHttpRequest, type ErpHttpResponse } from './http.js';
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

export interface TokenEndpointGrantOptions {
  /** The vendor (or identity provider) as error messages name it. */
  vendor: string;
  tokenUrl: string;
  client: { clientId: string; clientSecret: string };
  /** HTTP Basic (RFC 6749 §2.3.1) or `client_id`/`client_secret` form fields, whichever the vendor takes. */
  clientAuthentication: 'basic' | 'form';
  grantType: string;
  /** The grant's own form fields (a refresh token, a scope). */
  parameters: Record<string, string>;
  /** Used when the answer leaves `expires_in` out. */
  defaultLifetimeSeconds: number;
  /** The classification of a non-2xx answer. */
  classify: (response: ErpHttpResponse) => ErpError;
}

export interface TokenEndpointAnswer {
  accessToken: string;
  expiresInSeconds: number;
  /** The refresh token the answer carries, if any. */
  refreshToken?: string;
}

/** The OAuth `error` code of a token endpoint's answer (RFC 6749 §5.2), if it has one. */
export function oauthErrorCode(response: ErpHttpResponse): string | undefined {
  const error = (response.body as { error?: unknown } | null)?.error;
  return typeof error === 'string' ? error : undefined;
}

/**
 * One request to an OAuth 2.0 token endpoint (RFC 6749 §3.2): the grant as a form, the client
 * authenticated as the vendor takes it. A 2xx without an access token is `transient`: the
 * endpoint failed, not the credentials.
 */
export async function tokenEndpointGrant(http: ErpHttp, options: TokenEndpointGrantOptions): Promise<TokenEndpointAnswer> {
  const { client } = options;
  const basic = options.clientAuthentication === 'basic';
  const response = await http.send({
    method: 'POST',
    url: options.tokenUrl,
    headers: {
      ...(basic ? { authorization: `Basic ${Buffer.from(`${client.clientId}:${client.clientSecret}`).toString('base64')}` } : {}),
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams({
      grant_type: options.grantType,
      ...(basic ? {} : { client_id: client.clientId, client_secret: client.clientSecret }),
      ...options.parameters,
    }).toString(),
  });
  expectOk(response, options.classify);
  const answer = (typeof response.body === 'object' && response.body !== null ? response.body : {}) as { access_token?: unknown; expires_in?: unknown; refresh_token?: unknown };
  if (typeof answer.access_token !== 'string' || answer.access_token === '') {
    throw new ErpError('transient', `the ${options.vendor} token endpoint answered without an access token`, { status: response.status });
  }
  return {
    accessToken: answer.access_token,
    expiresInSeconds: typeof answer.expires_in === 'number' ? answer.expires_in : options.defaultLifetimeSeconds,
    ...(typeof answer.refresh_token === 'string' && answer.refresh_token !== '' ? { refreshToken: answer.refresh_token } : {}),
  };
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
  const { credentials, vendor } = options;
  const refusedStatuses = options.refusedStatuses ?? [400, 401];
  const classifyOther = options.classify ?? ((failed: ErpHttpResponse) => classifyByStatus(failed, oauthErrorCode(failed) ?? `token endpoint answered ${failed.status}`));
  const answer = await tokenEndpointGrant(http, {
    vendor,
    tokenUrl: options.tokenUrl,
    client: credentials,
    clientAuthentication: options.clientAuthentication,
    grantType: 'refresh_token',
    parameters: { refresh_token: credentials.refreshToken },
    defaultLifetimeSeconds: options.defaultLifetimeSeconds,
    classify(failed) {
      if (!refusedStatuses.includes(failed.status)) return classifyOther(failed);
      const reason = options.refusalReason?.(failed) ?? oauthErrorCode(failed) ?? 'no reason given';
      return new ErpError('auth', `${vendor} refused the refresh token (${failed.status}): ${reason}; reconnect the integration`, { status: failed.status });
    },
  });
  const rotated = answer.refreshToken !== undefined && answer.refreshToken !== credentials.refreshToken ? answer.refreshToken : null;
  return {
    accessToken: answer.accessToken,
    expiresInSeconds: answer.expiresInSeconds,
    ...(rotated === null ? {} : { credentials: { ...credentials, refreshToken: rotated } }),
  };
}

/**
 * Sends with the integration's current token (a bearer token, or SAP's session cookie). A 401
 * means the vendor dropped it before it expired here: one fresh token and one resend, no more,
 * so a refusal that persists comes back to the caller, which classifies whatever status it gets.
 */
async function sendWithFreshTokenOnce<C>(
  tokens: AccessTokens<C>,
  obtain: (credentials: C) => Promise<AccessGrant<C>>,
  send: (token: string) => Promise<ErpHttpResponse>,
): Promise<ErpHttpResponse> {
  const token = await tokens.get(obtain);
  const response = await send(token);
  if (response.status !== 401) return response;
  return send(await tokens.get(obtain, { rejected: token }));
}

/** Sends a vendor's API requests with the integration's token (see sendWithFreshTokenOnce). */
export interface AuthorizedSender {
  /** Answers any status: for the calls whose non-2xx (a 404, a 409) the connector reads itself. */
  send: (request: ErpHttpRequest) => Promise<ErpHttpResponse>;
  /** `send`, with a non-2xx thrown as the connector classifies it. */
  call: (request: ErpHttpRequest) => Promise<ErpHttpResponse>;
}

/** The sender of one connector: `authorize` turns the current token into the headers that carry it, added to the request's own. */
export function authorizedSender<C>(
  context: { http: ErpHttp; tokens: AccessTokens<C> },
  obtain: (credentials: C) => Promise<AccessGrant<C>>,
  authorize: (token: string) => Record<string, string>,
  classify: (response: ErpHttpResponse) => ErpError,
): AuthorizedSender {
  const send = (request: ErpHttpRequest) => sendWithFreshTokenOnce(context.tokens, obtain, (token) => context.http.send({ ...request, headers: { ...request.headers, ...authorize(token) } }));
  return { send, call: async (request) => expectOk(await send(request), classify) };
}
