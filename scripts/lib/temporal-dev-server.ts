import { spawn, type ChildProcess } from 'node:child_process';
import { Connection } from '@temporalio/client';
import { freePort, waitFor } from './ports.js';
import { devServerSearchAttributeArgs } from '../../src/temporal/search-attributes.js';

export interface TemporalDevServerOptions {
  executable: string;
  port: number;
  /** Omit for a headless server (tests). */
  uiPort?: number;
  /** SQLite file that keeps workflows across restarts; omit for an in-memory server. */
  dbFile?: string;
  namespace?: string;
  onLog?: (line: string) => void;
}

export interface RunningTemporal {
  address: string;
  uiUrl?: string;
  process: ChildProcess;
  stop(): Promise<void>;
}

async function answers(address: string): Promise<boolean> {
  try {
    const connection = await Connection.connect({ address, connectTimeout: 1_000 });
    try {
      await connection.healthService.check({});
      return true;
    } finally {
      await connection.close();
    }
  } catch {
    return false;
  }
}

/** The Temporal CLI dev server (SQLite, UI embedded), started and stopped as a child process. */
export async function startTemporalDevServer(options: TemporalDevServerOptions): Promise<RunningTemporal> {
  const log = options.onLog ?? (() => undefined);
  const args = [
    'server', 'start-dev',
    '--ip', '127.0.0.1',
    '--port', String(options.port),
    '--http-port', String(await freePort()),
    '--metrics-port', String(await freePort()),
    '--namespace', options.namespace ?? 'default',
    '--log-level', 'warn',
    // One worker fleet per queue here: a single partition spares the matching service forwarding tasks between partitions.
    '--dynamic-config-value', 'matching.numTaskqueueReadPartitions=1',
    '--dynamic-config-value', 'matching.numTaskqueueWritePartitions=1',
    // The workflows' custom search attributes (src/temporal/search-attributes.ts), for the default namespace and any other.
    ...devServerSearchAttributeArgs(),
    ...(options.uiPort === undefined ? ['--headless'] : ['--ui-port', String(options.uiPort)]),
    ...(options.dbFile ? ['--db-filename', options.dbFile] : []),
  ];
  const child = spawn(options.executable, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.on('data', (chunk: Buffer) => log(chunk.toString().trimEnd()));
  child.stderr.on('data', (chunk: Buffer) => log(chunk.toString().trimEnd()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const address = `127.0.0.1:${options.port}`;
  const failedEarly = exited.then((code) => {
    throw new Error(`temporal server start-dev exited with code ${code} before it was ready`);
  });
  await Promise.race([waitFor(`Temporal dev server at ${address}`, () => answers(address), 60_000), failedEarly]);
  failedEarly.catch(() => undefined);

  return {
    address,
    ...(options.uiPort === undefined ? {} : { uiUrl: `http://127.0.0.1:${options.uiPort}` }),
    process: child,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
