import type { RunningPostgres } from '../../scripts/lib/embedded-postgres.js';
import type { RunningStripeMock } from '../../scripts/lib/stripe-mock.js';
import type { RunningTemporal } from '../../scripts/lib/temporal-dev-server.js';

/** How the global setup tells each suite where the shared servers are. */
export const testEnvKeys = {
  postgresUrl: 'LEDGERFLOW_TEST_POSTGRES_URL',
  temporalAddress: 'LEDGERFLOW_TEST_TEMPORAL_ADDRESS',
  workflowBundle: 'LEDGERFLOW_TEST_WORKFLOW_BUNDLE',
  stripeApiUrl: 'LEDGERFLOW_TEST_STRIPE_API_URL',
} as const;

export interface RunningServers {
  postgres: RunningPostgres;
  temporal: RunningTemporal;
  stripeMock: RunningStripeMock;
  runDir: string;
  logs: string[];
}

export function sharedServer(key: keyof typeof testEnvKeys): string {
  const value = process.env[testEnvKeys[key]];
  if (!value) throw new Error(`${testEnvKeys[key]} is not set: run integration tests through jest's global setup`);
  return value;
}
