import { readFileSync } from 'node:fs';
import { describe, expect, it } from '@jest/globals';
import { parse } from 'yaml';
import { configSchema } from '../../src/config.js';
import { generateSecretKeyEntry } from '../../src/secrets.js';

interface ComposeService {
  environment?: Record<string, string | number>;
  build?: unknown;
  depends_on?: Record<string, unknown>;
}
const compose = parse(readFileSync(new URL('../../docker-compose.yml', import.meta.url), 'utf8')) as {
  services: Record<string, ComposeService>;
};
const configNames = new Set(Object.keys(configSchema.shape));

describe('docker-compose.yml', () => {
  it('describes the production-like topology', () => {
    expect(Object.keys(compose.services).sort()).toEqual(['api', 'postgres', 'stripe-mock', 'temporal', 'temporal-ui', 'worker']);
    expect(compose.services.api?.build).toBeDefined();
    expect(compose.services.worker?.build).toBeDefined();
  });

  it.each(['api', 'worker'])('gives the %s only variables src/config.ts reads, including the required ones', (name) => {
    const environment = Object.keys(compose.services[name]?.environment ?? {});
    expect(environment.filter((key) => !configNames.has(key))).toEqual([]);
    expect(environment).toEqual(expect.arrayContaining(['DATABASE_URL', 'TEMPORAL_ADDRESS', 'TEMPORAL_TASK_QUEUE', 'STRIPE_API_URL']));
  });

  it('points the API and the worker at the same database, Temporal and task queue', () => {
    const api = compose.services.api?.environment ?? {};
    const worker = compose.services.worker?.environment ?? {};
    for (const key of ['DATABASE_URL', 'TEMPORAL_ADDRESS', 'TEMPORAL_NAMESPACE', 'TEMPORAL_TASK_QUEUE']) {
      expect(worker[key]).toEqual(api[key]);
    }
  });

  it('passes values the config schema accepts', () => {
    // What an operator supplies for `${VARIABLE:?…}`: a value of the variable's own format.
    const supplied: Record<string, string> = { LEDGERFLOW_SECRET_KEYS: generateSecretKeyEntry('k1') };
    for (const name of ['api', 'worker']) {
      const environment = Object.fromEntries(
        Object.entries(compose.services[name]?.environment ?? {}).map(([key, value]) => [
          key,
          String(value).replace(/\$\{([A-Z_]+)[^}]*\}/g, (_match, variable: string) => supplied[variable] ?? 'x'.repeat(40)),
        ]),
      );
      expect(configSchema.safeParse(environment).error?.issues ?? []).toEqual([]);
    }
  });
});
