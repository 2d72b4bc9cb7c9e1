import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { scalarStyleHashes } from '../../src/api/docs.js';
import { startTestStack, type TestStack } from '../support/stack.js';

const packageDirectory = new URL('../../node_modules/@scalar/api-reference/', import.meta.url);
const readJson = (url: URL) => JSON.parse(readFileSync(url, 'utf8')) as { version: string; dependencies: Record<string, string> };

let stack: TestStack;
beforeAll(async () => {
  stack = await startTestStack();
});
afterAll(async () => {
  await stack.stop();
});

/** Every URL the page names in an attribute that makes a browser load or navigate to it. */
function referencedUrls(html: string): string[] {
  return [...html.matchAll(/\s(?:src|href|action|srcset|poster|data)\s*=\s*["']?([^"'\s>]+)/gi)].map((match) => match[1]!);
}

/** The policy as directive name → its source expressions. */
function directives(policy: string): Map<string, string[]> {
  return new Map(
    policy
      .split(';')
      .map((part) => part.trim().split(/\s+/))
      .filter((words) => words[0])
      .map(([name, ...sources]) => [name!, sources]),
  );
}

describe('/docs, the API reference', () => {
  it('loads only what this origin serves, and runs no inline script', async () => {
    const response = await fetch(`${stack.baseUrl}/docs`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/html/);
    const html = await response.text();

    const urls = referencedUrls(html);
    expect(urls.length).toBeGreaterThanOrEqual(2);
    for (const url of urls) expect(new URL(url, stack.baseUrl).origin).toBe(stack.baseUrl);
    const scripts = [...html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/gi)];
    expect(scripts.length).toBeGreaterThanOrEqual(2);
    for (const [, attributes, body] of scripts) {
      expect(attributes).toMatch(/\ssrc=/);
      expect(body!.trim()).toBe('');
    }
    expect(html).not.toMatch(/\son\w+\s*=/i);
    expect(html).not.toMatch(/<(?:iframe|object|embed|base)\b/i);
  });

  it('serves each script it references with a JavaScript content type, the reference from the installed package', async () => {
    const html = await (await fetch(`${stack.baseUrl}/docs`)).text();
    const sources = [...html.matchAll(/<script\b[^>]*\ssrc="([^"]+)"/gi)].map((match) => match[1]!);
    const bodies: string[] = [];
    for (const source of sources) {
      const asset = await fetch(new URL(source, stack.baseUrl));
      expect(asset.status).toBe(200);
      expect(asset.headers.get('content-type')).toMatch(/^text\/javascript/);
      expect(asset.headers.get('x-content-type-options')).toBe('nosniff');
      bodies.push(await asset.text());
    }
    const installed = readFileSync(new URL('dist/browser/standalone.js', packageDirectory), 'utf8');
    expect(bodies).toContain(installed.replace(/\n\/\/# sourceMappingURL=\S+\s*$/, '\n'));
    expect(bodies.some((body) => body.includes("Scalar.createApiReference('#app'") && body.includes('"url":"/openapi.json"'))).toBe(true);
  });

  it('sends a Content-Security-Policy that names no other origin, with a new style nonce for every page', async () => {
    const pages = await Promise.all([fetch(`${stack.baseUrl}/docs`), fetch(`${stack.baseUrl}/docs`)]);
    const nonces: string[] = [];
    for (const page of pages) {
      const policy = directives(page.headers.get('content-security-policy') ?? '');
      expect(policy.get('default-src')).toEqual(["'none'"]);
      expect(policy.get('script-src')).toEqual(["'self'"]);
      expect(policy.get('connect-src')).toEqual(["'self'"]);
      expect(policy.get('frame-ancestors')).toEqual(["'none'"]);
      for (const sources of policy.values()) {
        for (const source of sources) expect(source).toMatch(/^(?:'self'|'none'|'nonce-[A-Za-z0-9+/=]+'|'sha256-[A-Za-z0-9+/=]+'|data:)$/);
      }
      const nonce = policy.get('style-src')!.find((source) => source.startsWith("'nonce-"))!.slice(7, -1);
      // The bundle marks the stylesheet it injects with the nonce it reads from this element.
      expect(await page.text()).toContain(`<meta property="csp-nonce" content="${nonce}" />`);
      nonces.push(nonce);
    }
    expect(nonces[0]).not.toBe(nonces[1]);
  });

  it('pins the package exactly, at the version its style hashes were taken from', () => {
    const pinned = readJson(new URL('../../package.json', import.meta.url)).dependencies['@scalar/api-reference'];
    expect(pinned).toBe(readJson(new URL('package.json', packageDirectory)).version);
    expect(pinned).toBe(scalarStyleHashes.version);
  });
});
