import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';
import { startEmbeddedPostgres } from '../../scripts/lib/embedded-postgres.js';
import { freePort } from '../../scripts/lib/ports.js';
import { startTemporalDevServer } from '../../scripts/lib/temporal-dev-server.js';
import { workflowsPath } from '../../src/temporal/worker.js';
import { testEnvKeys, type RunningServers } from './servers.js';

/**
 * Starts, once per run, the servers every integration suite shares: one ephemeral PostgreSQL
 * (each suite makes its own database in it) and one Temporal dev server (each suite polls its own
 * task queue). Workflows are bundled here once, not per suite: webpack on two cores is slow.
 */
export default async function globalSetup(): Promise<void> {
  const runDir = mkdtempSync(join(tmpdir(), 'ledgerflow-test-'));
  const logs: string[] = [];
  const [postgres, temporal, workflowBundle] = await Promise.all([
    freePort().then((port) =>
      startEmbeddedPostgres({ dataDir: join(runDir, 'postgres'), port, persistent: false, onLog: (line) => logs.push(line) }),
    ),
    freePort().then((port) => startTemporalDevServer({ executable: 'temporal', port, onLog: (line) => logs.push(line) })),
    bundleWorkflowCode({ workflowsPath: workflowsPath(), logger: { info: () => undefined, warn: () => undefined, error: console.error, debug: () => undefined, trace: () => undefined, log: () => undefined } }),
  ]);
  const bundlePath = join(runDir, 'workflow-bundle.js');
  writeFileSync(bundlePath, workflowBundle.code);

  process.env[testEnvKeys.postgresUrl] = postgres.urlFor('postgres');
  process.env[testEnvKeys.temporalAddress] = temporal.address;
  process.env[testEnvKeys.workflowBundle] = bundlePath;
  (globalThis as { ledgerflowServers?: RunningServers }).ledgerflowServers = { postgres, temporal, runDir, logs };
}
