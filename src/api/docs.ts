import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { OpenAPIHono } from '@hono/zod-openapi';
import type { AppEnv } from './http/context.js';

/** Where the reference's scripts are served; their names carry a hash of their content. */
export const docsAssetsPath = '/docs/assets';

interface Asset {
  path: string;
  body: string;
}

interface DocsAssets {
  bundle: Asset;
  start: Asset;
}

/** Scalar's configuration: nothing that reaches another origin (fonts, telemetry, the AI agent, MCP). */
const referenceConfiguration = {
  url: '/openapi.json',
  withDefaultFonts: false,
  telemetry: false,
  agent: { disabled: true },
  mcp: { disabled: true },
  showDeveloperTools: 'never',
};

function hashedAsset(name: string, body: string): Asset {
  const hash = createHash('sha256').update(body).digest('hex').slice(0, 16);
  return { path: `${docsAssetsPath}/${name}.${hash}.js`, body };
}

let loaded: DocsAssets | undefined;

/**
 * Scalar's standalone bundle from the installed `@scalar/api-reference` (pinned in package.json),
 * read once per process. The bundle's source map is not shipped, so its reference is dropped.
 */
function docsAssets(): DocsAssets {
  if (loaded) return loaded;
  const packageEntry = createRequire(import.meta.url).resolve('@scalar/api-reference');
  const bundle = readFileSync(join(dirname(packageEntry), 'browser', 'standalone.js'), 'utf8').replace(/\n\/\/# sourceMappingURL=\S+\s*$/, '\n');
  loaded = {
    bundle: hashedAsset('scalar-api-reference', bundle),
    // A script file rather than inline code, so the policy can allow scripts from this origin only.
    start: hashedAsset('start', `Scalar.createApiReference('#app', ${JSON.stringify(referenceConfiguration)});\n`),
  };
  return loaded;
}

/**
 * The two style elements Scalar adds without the page's nonce, by hash: sonner's toast styles and
 * the theme's variables. They hold for @scalar/api-reference 1.76.0 with the configuration above;
 * after an upgrade the browser's console names the hash of any style it blocked.
 */
export const scalarStyleHashes = {
  version: '1.76.0',
  hashes: ['sha256-l/2OpPg0d+2VLTLgwjf5mQo2CYwHDEqdj5TjbfEyVJI=', 'sha256-T13Uev3xCax2N28XaoAE8DOzQZKvPp7ZQVAi1iRREjo='],
};

/**
 * Scripts from this origin only. The bundle injects its stylesheet at run time marked with the
 * page's nonce (read from `meta[property=csp-nonce]`), new for every page.
 */
export function docsContentSecurityPolicy(nonce: string): string {
  return [
    "default-src 'none'",
    "script-src 'self'",
    `style-src 'self' 'nonce-${nonce}' ${scalarStyleHashes.hashes.map((hash) => `'${hash}'`).join(' ')}`,
    "img-src 'self' data:",
    "connect-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
}

function page(assets: DocsAssets, nonce: string): string {
  return `<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <meta name="viewport" content="width=device-width, initial-scale=1" />
    <meta property="csp-nonce" content="${nonce}" />
    <title>Ledgerflow API</title>
  </head>
  <body>
    <div id="app"></div>
    <script src="${assets.bundle.path}"></script>
    <script src="${assets.start.path}"></script>
  </body>
</html>
`;
}

/** `/docs`: the interactive API reference over `/openapi.json`, with everything it loads served from here. */
export function registerDocs(app: OpenAPIHono<AppEnv>) {
  const assets = docsAssets();
  app.get('/docs', (c) => {
    const nonce = randomBytes(16).toString('base64');
    c.header('content-security-policy', docsContentSecurityPolicy(nonce));
    c.header('cache-control', 'no-store');
    c.header('x-content-type-options', 'nosniff');
    return c.html(page(assets, nonce));
  });
  for (const asset of [assets.bundle, assets.start]) {
    app.get(asset.path, (c) => {
      c.header('content-type', 'text/javascript; charset=utf-8');
      // The name changes with the content, so a browser may keep it for good.
      c.header('cache-control', 'public, max-age=31536000, immutable');
      c.header('x-content-type-options', 'nosniff');
      return c.body(asset.body);
    });
  }
}
