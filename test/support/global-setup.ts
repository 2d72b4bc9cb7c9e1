import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';
import { startEmbeddedPostgres } from '../../scripts/lib/embedded-postgres.js';
import { freePort } from '../../scripts/lib/ports.js';
import { startStripeMock } from '../../scripts/lib/stripe-mock.js';
import { startTemporalDevServer } from '../../scripts/lib/temporal-dev-server.js';
import { workflowsPath } from '../../src/temporal/worker.js';
import { testEnvKeys, type RunningServers } from './servers.js';

const ignore = () => undefined;
const quietBundlerLogger = { trace: ignore, debug: ignore, info: ignore, log: ignore, warn: console.warn, error: console.error };

/**
 * Starts, once per run, the servers every integration suite shares: one ephemeral PostgreSQL
 * (each suite makes its own database in it), one Temporal dev server (each suite polls its own
 * task queue) and stripe-mock. Workflows are bundled here once, not per suite: webpack on two cores is slow.
 */
export default async function globalSetup(): Promise<void> {
  const runDir = mkdtempSync(join(tmpdir(), 'ledgerflow-test-'));
  const logs: string[] = [];
  const [postgres, temporal, stripeMock, workflowBundle] = await Promise.all([
    freePort().then((port) =>
      startEmbeddedPostgres({ dataDir: join(runDir, 'postgres'), port, persistent: false, onLog: (line) => logs.push(line) }),
    ),
    freePort().then((port) => startTemporalDevServer({ executable: 'temporal', port, onLog: (line) => logs.push(line) })),
    freePort().then((port) => startStripeMock({ executable: 'stripe-mock', port })),
    bundleWorkflowCode({ workflowsPath: workflowsPath(), logger: quietBundlerLogger }),
  ]);
  const bundlePath = join(runDir, 'workflow-bundle.js');
  writeFileSync(bundlePath, workflowBundle.code);

  process.env[testEnvKeys.postgresUrl] = postgres.urlFor('postgres');
  process.env[testEnvKeys.temporalAddress] = temporal.address;
  process.env[testEnvKeys.workflowBundle] = bundlePath;
  process.env[testEnvKeys.stripeApiUrl] = stripeMock.url;
  (globalThis as { ledgerflowServers?: RunningServers }).ledgerflowServers = { postgres, temporal, stripeMock, runDir, logs };
}
