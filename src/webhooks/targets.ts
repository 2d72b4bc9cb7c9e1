import { lookup } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';

/**
 * Where a webhook may be delivered. Endpoints are registered by tenants, so without this rule any
 * OWNER could make the worker POST to the deployment's own network (PostgreSQL, Temporal, stripe-mock,
 * the cloud's metadata service) and read each port's answer in the delivery log.
 */
export interface WebhookTargetPolicy {
  /**
   * Development only (`WEBHOOK_ALLOW_PRIVATE_TARGETS=1`): `http://` and every address are accepted,
   * so endpoints on this machine receive deliveries.
   */
  allowPrivate: boolean;
  /** Resolves a host name to every address it has (`dns.lookup` with `all: true` by default). */
  resolveHost?: HostResolver;
}

export interface ResolvedAddress {
  address: string;
  family: number;
}

export type HostResolver = (hostname: string) => Promise<readonly ResolvedAddress[]>;

export const systemHostResolver: HostResolver = (hostname) => lookup(hostname, { all: true, order: 'verbatim' });

/** A webhook URL whose scheme, host or resolved address the policy refuses; `reason` says which rule. */
export class WebhookTargetRefusedError extends Error {
  constructor(readonly reason: string) {
    super(`webhook target refused: ${reason}`);
    this.name = 'WebhookTargetRefusedError';
  }
}

type Subnet = readonly [network: string, prefix: number];

/**
 * The special-purpose ranges of the IANA IPv4 and IPv6 registries (RFC 6890 and later) that are not
 * somewhere on the internet, most specific first so the reason names the narrowest one. IPv4-mapped
 * IPv6 addresses (`::ffff:127.0.0.1`) match the IPv4 rules: `BlockList` treats the two forms alike.
 */
const refusedRanges: readonly { reason: string; v4?: readonly Subnet[]; v6?: readonly Subnet[] }[] = [
  { reason: 'a cloud metadata address', v4: [['169.254.169.254', 32], ['100.100.100.200', 32]], v6: [['fd00:ec2::254', 128]] },
  { reason: 'the unspecified address', v4: [['0.0.0.0', 8]], v6: [['::', 128]] },
  { reason: 'a loopback address', v4: [['127.0.0.0', 8]], v6: [['::1', 128]] },
  { reason: 'a private address', v4: [['10.0.0.0', 8], ['172.16.0.0', 12], ['192.168.0.0', 16]] },
  { reason: 'a shared (carrier-grade NAT) address', v4: [['100.64.0.0', 10]] },
  { reason: 'a link-local address', v4: [['169.254.0.0', 16]], v6: [['fe80::', 10]] },
  { reason: 'a unique-local address', v6: [['fc00::', 7]] },
  { reason: 'a site-local address', v6: [['fec0::', 10]] },
  { reason: 'a multicast address', v4: [['224.0.0.0', 4]], v6: [['ff00::', 8]] },
  { reason: 'the broadcast address', v4: [['255.255.255.255', 32]] },
  {
    reason: 'a documentation address',
    v4: [['192.0.2.0', 24], ['198.51.100.0', 24], ['203.0.113.0', 24]],
    v6: [['2001:db8::', 32], ['3fff::', 20]],
  },
  { reason: 'a benchmarking address', v4: [['198.18.0.0', 15]], v6: [['2001:2::', 48]] },
  { reason: 'an IPv4-compatible IPv6 address', v6: [['::', 96]] },
  { reason: 'a 6to4 address', v6: [['2002::', 16]] },
  { reason: 'a local-use NAT64 address', v6: [['64:ff9b:1::', 48]] },
  {
    reason: 'a reserved address',
    v4: [['192.0.0.0', 24], ['192.88.99.0', 24], ['240.0.0.0', 4]],
    v6: [['100::', 64], ['2001::', 23], ['5f00::', 16]],
  },
];

const nat64Prefix = '64:ff9b::';

/**
 * One `BlockList` per reason. An IPv4 range is also added in its NAT64 form (`64:ff9b::127.0.0.0/104`,
 * RFC 6052), through which a NAT64 gateway would reach it.
 */
const refusedLists = refusedRanges.map(({ reason, v4 = [], v6 = [] }) => {
  const list = new BlockList();
  for (const [network, prefix] of v4) {
    list.addSubnet(network, prefix, 'ipv4');
    list.addSubnet(`${nat64Prefix}${network}`, 96 + prefix, 'ipv6');
  }
  for (const [network, prefix] of v6) list.addSubnet(network, prefix, 'ipv6');
  return { reason, list };
});

/** IPv6 addresses outside these are not global unicast (IANA assigns only 2000::/3 for it). */
const globalIpv6 = new BlockList();
globalIpv6.addSubnet('2000::', 3, 'ipv6');
globalIpv6.addSubnet('::ffff:0:0', 96, 'ipv6');
globalIpv6.addSubnet(nat64Prefix, 96, 'ipv6');

/**
 * Why an IP address is no place to deliver a webhook, or null when it is a public unicast address.
 * `address` is an IPv4 or IPv6 address in any notation `net.isIP` accepts.
 */
export function refusedAddressReason(address: string): string | null {
  const family = isIP(address);
  if (family === 0) return 'not an IP address';
  const type = family === 4 ? 'ipv4' : 'ipv6';
  for (const { reason, list } of refusedLists) if (list.check(address, type)) return reason;
  if (family === 6 && !globalIpv6.check(address, 'ipv6')) return 'not a global unicast address';
  return null;
}

/** The URL parser's host without IPv6 brackets and without the root label's trailing dot. */
function bareHost(url: URL): string {
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  return host.endsWith('.') ? host.slice(0, -1) : host;
}

/** Names that mean this machine or the cloud's metadata service whatever DNS says. */
function refusedNameReason(name: string): string | null {
  if (name === 'localhost' || name.endsWith('.localhost')) return 'a name for this machine';
  // `.internal` is reserved for private networks (metadata.google.internal, *.ec2.internal).
  if (name === 'internal' || name.endsWith('.internal')) return 'a name of a private network';
  if (name === 'metadata.goog' || name === 'metadata') return 'a cloud metadata name';
  return null;
}

/**
 * The checks that need no DNS: the scheme (`https` unless development), IP literals and reserved
 * names. The URL has been through the WHATWG parser, which already rewrote `2130706433`, `0177.0.0.1`,
 * `0x7f.1` and `127.1` to `127.0.0.1` and `[::ffff:127.0.0.1]` to `[::ffff:7f00:1]`, exactly as an
 * HTTP client would connect.
 */
function staticRefusal(url: URL, policy: WebhookTargetPolicy): string | null {
  if (policy.allowPrivate) return url.protocol === 'http:' || url.protocol === 'https:' ? null : 'the URL must use https';
  if (url.protocol !== 'https:') return 'the URL must use https';
  const host = bareHost(url);
  if (isIP(host)) {
    const reason = refusedAddressReason(host);
    return reason && `${host} is ${reason}`;
  }
  const reason = refusedNameReason(host);
  return reason && `${host} is ${reason}`;
}

function refusedResolution(host: string, addresses: readonly ResolvedAddress[]): string | null {
  for (const { address } of addresses) {
    const reason = refusedAddressReason(address);
    if (reason) return `${host} resolves to ${address}, ${reason}`;
  }
  return null;
}

/** How long registration waits for DNS before accepting the name (delivery checks it again). */
const registrationLookupMs = 3_000;

/**
 * Registration's check: the reason the URL is refused, or null. A name is resolved and refused when
 * any of its addresses is; a name that does not resolve (yet) is accepted, since every delivery
 * resolves it again and refuses it then.
 */
export async function webhookUrlRefusal(rawUrl: string, policy: WebhookTargetPolicy): Promise<string | null> {
  const url = new URL(rawUrl);
  const refusal = staticRefusal(url, policy);
  if (refusal || policy.allowPrivate) return refusal;
  const host = bareHost(url);
  if (isIP(host)) return null;
  const resolve = policy.resolveHost ?? systemHostResolver;
  let timer: NodeJS.Timeout | undefined;
  const addresses = await Promise.race([
    resolve(host).catch(() => []),
    new Promise<readonly ResolvedAddress[]>((settle) => (timer = setTimeout(() => settle([]), registrationLookupMs))),
  ]).finally(() => clearTimeout(timer));
  return refusedResolution(host, addresses);
}

/**
 * Delivery's check: resolves the URL's host once and returns the addresses to connect to, every one
 * of them checked; the caller connects only to these (a pinned `lookup`), so DNS answering
 * differently a moment later changes nothing. Throws `WebhookTargetRefusedError` when the policy
 * refuses the URL, and the resolver's error when the name does not resolve.
 */
export async function resolveWebhookTarget(url: URL, policy: WebhookTargetPolicy): Promise<readonly ResolvedAddress[]> {
  const refusal = staticRefusal(url, policy);
  if (refusal) throw new WebhookTargetRefusedError(refusal);
  const host = bareHost(url);
  const literal = isIP(host);
  if (literal) return [{ address: host, family: literal }];
  const addresses = await (policy.resolveHost ?? systemHostResolver)(host);
  if (addresses.length === 0) throw new Error(`${host} has no address`);
  const refused = policy.allowPrivate ? null : refusedResolution(host, addresses);
  if (refused) throw new WebhookTargetRefusedError(refused);
  return addresses;
}
