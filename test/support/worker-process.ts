import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));

export interface WorkerProcess {
  child: ChildProcessWithoutNullStreams;
  /** The exit signal, or the exit code. */
  exited: Promise<NodeJS.Signals | number | null>;
  /** SIGKILLs the process and waits for it to be gone. */
  kill(): Promise<void>;
}

/**
 * The real worker entrypoint, as `npm run worker` runs it, in a child process the crash tests can
 * SIGKILL: its environment is `env` alone (plus PATH, HOME and LOG_LEVEL=warn), its stderr lines
 * go to `stderr`.
 */
export function spawnWorker(env: Record<string, string>, stderr: string[]): WorkerProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/worker.ts'], {
    cwd: root,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', LOG_LEVEL: 'warn', ...env },
  });
  child.stdout.resume();
  child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk.toString()));
  const exited = new Promise<NodeJS.Signals | number | null>((resolve) => child.once('exit', (code, signal) => resolve(signal ?? code)));
  const kill = async () => {
    child.kill('SIGKILL');
    await exited;
  };
  return { child, exited, kill };
}
