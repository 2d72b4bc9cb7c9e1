import { spawn } from 'node:child_process';
import { portAnswers, waitFor } from './ports.js';

export interface RunningStripeMock {
  url: string;
  pid: number;
  stop(): Promise<void>;
}

/** stripe-mock (Stripe's own API mock, stateless) on loopback, HTTP only. */
export async function startStripeMock(options: { executable: string; port: number; onLog?: (line: string) => void }): Promise<RunningStripeMock> {
  const child = spawn(options.executable, ['-http-addr', `127.0.0.1:${options.port}`, '-https-port', '0'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  child.stderr.on('data', (chunk: Buffer) => options.onLog?.(chunk.toString().trimEnd()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await Promise.race([
    waitFor('stripe-mock', () => portAnswers(options.port), 30_000),
    exited.then(() => {
      throw new Error(`stripe-mock exited before listening on ${options.port}`);
    }),
  ]);
  return {
    url: `http://127.0.0.1:${options.port}`,
    pid: child.pid!,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      await exited;
    },
  };
}
