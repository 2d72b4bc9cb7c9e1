import { describe, expect, it } from '@jest/globals';
import {
  refusedAddressReason,
  resolveWebhookTarget,
  webhookUrlRefusal,
  WebhookTargetRefusedError,
  type HostResolver,
  type ResolvedAddress,
} from '../../src/webhooks/targets.js';

describe('refusedAddressReason', () => {
  it.each([
    ['127.0.0.1', 'a loopback address'],
    ['127.255.255.254', 'a loopback address'],
    ['0.0.0.0', 'the unspecified address'],
    ['0.1.2.3', 'the unspecified address'],
    ['10.0.0.1', 'a private address'],
    ['172.16.0.1', 'a private address'],
    ['172.31.255.255', 'a private address'],
    ['192.168.1.1', 'a private address'],
    ['100.64.0.1', 'a shared (carrier-grade NAT) address'],
    ['100.127.255.254', 'a shared (carrier-grade NAT) address'],
    ['169.254.1.1', 'a link-local address'],
    ['169.254.169.254', 'a cloud metadata address'],
    ['100.100.100.200', 'a cloud metadata address'],
    ['224.0.0.1', 'a multicast address'],
    ['239.255.255.250', 'a multicast address'],
    ['255.255.255.255', 'the broadcast address'],
    ['240.0.0.1', 'a reserved address'],
    ['192.0.0.8', 'a reserved address'],
    ['192.0.2.10', 'a documentation address'],
    ['198.51.100.7', 'a documentation address'],
    ['203.0.113.9', 'a documentation address'],
    ['198.18.0.1', 'a benchmarking address'],
    ['::1', 'a loopback address'],
    ['::', 'the unspecified address'],
    ['fe80::1', 'a link-local address'],
    ['febf:ffff::1', 'a link-local address'],
    ['fc00::1', 'a unique-local address'],
    ['fd12:3456::1', 'a unique-local address'],
    ['fd00:ec2::254', 'a cloud metadata address'],
    ['fec0::1', 'a site-local address'],
    ['ff02::1', 'a multicast address'],
    ['2001:db8::1', 'a documentation address'],
    ['3fff:1::1', 'a documentation address'],
    ['2001::1', 'a reserved address'],
    ['2002:7f00:1::1', 'a 6to4 address'],
    ['100::1', 'a reserved address'],
    ['4000::1', 'not a global unicast address'],
    // IPv4-mapped and IPv4-compatible IPv6 forms, in both notations.
    ['::ffff:127.0.0.1', 'a loopback address'],
    ['::ffff:7f00:1', 'a loopback address'],
    ['::ffff:10.1.2.3', 'a private address'],
    ['::ffff:a9fe:a9fe', 'a cloud metadata address'],
    ['::ffff:0.0.0.0', 'the unspecified address'],
    ['::127.0.0.1', 'an IPv4-compatible IPv6 address'],
    ['::7f00:1', 'an IPv4-compatible IPv6 address'],
    ['::8.8.8.8', 'an IPv4-compatible IPv6 address'],
    // NAT64 (RFC 6052) forms reach the embedded IPv4 address through a gateway.
    ['64:ff9b::127.0.0.1', 'a loopback address'],
    ['64:ff9b::a00:1', 'a private address'],
    ['64:ff9b::a9fe:a9fe', 'a cloud metadata address'],
    ['64:ff9b:1::1', 'a local-use NAT64 address'],
    ['localhost', 'not an IP address'],
  ])('refuses %s: %s', (address, reason) => {
    expect(refusedAddressReason(address)).toBe(reason);
  });

  it.each(['8.8.8.8', '1.1.1.1', '93.184.215.14', '172.32.0.1', '100.128.0.1', '169.253.255.255', '223.255.255.255', '2606:4700::1111', '2a00:1450:4001::1', '::ffff:8.8.8.8', '64:ff9b::808:808'])(
    'accepts the public address %s',
    (address) => {
      expect(refusedAddressReason(address)).toBeNull();
    },
  );
});

/** A resolver answering from a table; any other name does not exist. */
const resolverOf =
  (table: Record<string, string[]>): HostResolver =>
  async (hostname) => {
    const addresses = table[hostname];
    if (!addresses) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
    return addresses.map((address): ResolvedAddress => ({ address, family: address.includes(':') ? 6 : 4 }));
  };

const resolveHost = resolverOf({
  'hooks.example.com': ['93.184.215.14', '2606:2800:21f:cb07:6820:80da:af6b:8b2c'],
  'rebound.example.com': ['93.184.215.14', '127.0.0.1'],
  'lan.example.com': ['192.168.0.10'],
  'v6-loopback.example.com': ['::1'],
});
const production = { allowPrivate: false, resolveHost };

describe('webhookUrlRefusal', () => {
  it.each([
    ['http://hooks.example.com/x', 'the URL must use https'],
    ['https://127.0.0.1/', '127.0.0.1 is a loopback address'],
    ['https://2130706433/', '127.0.0.1 is a loopback address'],
    ['https://0177.0.0.1/', '127.0.0.1 is a loopback address'],
    ['https://0x7f.0.0.1/', '127.0.0.1 is a loopback address'],
    ['https://0x7f000001/', '127.0.0.1 is a loopback address'],
    ['https://127.1/', '127.0.0.1 is a loopback address'],
    ['https://%31%32%37.0.0.1/', '127.0.0.1 is a loopback address'],
    ['https://0/', '0.0.0.0 is the unspecified address'],
    ['https://10.1/', '10.0.0.1 is a private address'],
    ['https://169.254.169.254/latest/meta-data/', '169.254.169.254 is a cloud metadata address'],
    ['https://[::1]:8443/', '::1 is a loopback address'],
    ['https://[::ffff:127.0.0.1]/', '::ffff:7f00:1 is a loopback address'],
    ['https://[::ffff:169.254.169.254]/', '::ffff:a9fe:a9fe is a cloud metadata address'],
    ['https://[fd00:ec2::254]/', 'fd00:ec2::254 is a cloud metadata address'],
    ['https://[fe80::1]/', 'fe80::1 is a link-local address'],
    ['https://localhost:3000/', 'localhost is a name for this machine'],
    ['https://LOCALHOST./', 'localhost is a name for this machine'],
    ['https://api.localhost/', 'api.localhost is a name for this machine'],
    ['https://metadata.google.internal/computeMetadata/v1/', 'metadata.google.internal is a name of a private network'],
    ['https://metadata.goog/', 'metadata.goog is a cloud metadata name'],
    ['https://lan.example.com/', 'lan.example.com resolves to 192.168.0.10, a private address'],
    ['https://v6-loopback.example.com/', 'v6-loopback.example.com resolves to ::1, a loopback address'],
    // Every address counts, not only the first.
    ['https://rebound.example.com/', 'rebound.example.com resolves to 127.0.0.1, a loopback address'],
  ])('refuses %s', async (url, reason) => {
    expect(await webhookUrlRefusal(url, production)).toBe(reason);
  });

  it('accepts a public https URL, and a name that does not resolve yet (every delivery resolves it again)', async () => {
    expect(await webhookUrlRefusal('https://hooks.example.com/ledgerflow', production)).toBeNull();
    expect(await webhookUrlRefusal('https://93.184.215.14:8443/hook', production)).toBeNull();
    expect(await webhookUrlRefusal('https://not-yet.example.com/hook', production)).toBeNull();
  });

  it('accepts http and any address with the development allowance', async () => {
    const development = { allowPrivate: true, resolveHost };
    for (const url of ['http://127.0.0.1:4000/hook', 'http://localhost/', 'https://lan.example.com/', 'http://[::1]/']) {
      expect(await webhookUrlRefusal(url, development)).toBeNull();
    }
  });
});

describe('resolveWebhookTarget', () => {
  it('returns every address of a public name, to connect to nothing else', async () => {
    expect(await resolveWebhookTarget(new URL('https://hooks.example.com/x'), production)).toEqual([
      { address: '93.184.215.14', family: 4 },
      { address: '2606:2800:21f:cb07:6820:80da:af6b:8b2c', family: 6 },
    ]);
    expect(await resolveWebhookTarget(new URL('https://[2606:4700::1111]/x'), production)).toEqual([{ address: '2606:4700::1111', family: 6 }]);
  });

  it.each([
    ['https://rebound.example.com/', 'rebound.example.com resolves to 127.0.0.1, a loopback address'],
    ['https://0177.0.0.1/', '127.0.0.1 is a loopback address'],
    ['http://hooks.example.com/', 'the URL must use https'],
  ])('refuses %s', async (url, reason) => {
    const refusal = resolveWebhookTarget(new URL(url), production);
    await expect(refusal).rejects.toBeInstanceOf(WebhookTargetRefusedError);
    await expect(refusal).rejects.toMatchObject({ reason });
  });

  it('passes a resolution failure on (retryable), and resolves private names with the allowance', async () => {
    await expect(resolveWebhookTarget(new URL('https://gone.example.com/'), production)).rejects.toMatchObject({ code: 'ENOTFOUND' });
    expect(await resolveWebhookTarget(new URL('http://lan.example.com/'), { allowPrivate: true, resolveHost })).toEqual([{ address: '192.168.0.10', family: 4 }]);
  });
});
