import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { LookupFunction } from 'node:net';
import type { ResolvedAddress } from './targets.js';

export interface PinnedPost {
  url: URL;
  /** The addresses `resolveWebhookTarget` checked: the only ones the request may connect to. */
  addresses: readonly ResolvedAddress[];
  headers: Record<string, string>;
  body: string;
  signal: AbortSignal;
}

/**
 * POSTs `body` to `url` over a connection to one of `addresses`: the socket's `lookup` answers with
 * them instead of asking DNS again, so the address connected is an address checked. TLS still
 * verifies the certificate against the URL's host name. A redirect is not followed (node:http never
 * does); resolves with the answer's status, whatever it is, and discards the body.
 */
export function postToPinnedAddresses({ url, addresses, headers, body, signal }: PinnedPost): Promise<number> {
  const pinnedLookup: LookupFunction = (_hostname, options, callback) => {
    const family = options.family === 'IPv4' ? 4 : options.family === 'IPv6' ? 6 : options.family;
    const candidates = family ? addresses.filter((candidate) => candidate.family === family) : addresses;
    const [first] = candidates;
    if (!first) callback(Object.assign(new Error(`no IPv${family} address for ${url.hostname}`), { code: 'ENOTFOUND' }), '');
    else if (options.all) callback(null, [...candidates]);
    else callback(null, first.address, first.family);
  };
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const request = send(
      url,
      {
        method: 'POST',
        headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) },
        lookup: pinnedLookup,
        // A connection of its own, to these addresses: a pooled socket may have been opened for another check.
        agent: false,
        signal,
      },
      (response) => {
        resolve(response.statusCode ?? 0);
        response.destroy();
      },
    );
    request.on('error', reject);
    request.end(body);
  });
}
