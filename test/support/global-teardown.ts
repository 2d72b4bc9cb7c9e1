import { rmSync } from 'node:fs';
import type { RunningServers } from './servers.js';

export default async function globalTeardown(): Promise<void> {
  const servers = (globalThis as { ledgerflowServers?: RunningServers }).ledgerflowServers;
  if (!servers) return;
  await Promise.allSettled([servers.temporal.stop(), servers.stripeMock.stop(), servers.postgres.stop()]);
  rmSync(servers.runDir, { recursive: true, force: true });
}
