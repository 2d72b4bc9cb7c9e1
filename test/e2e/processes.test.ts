import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { request } from 'node:http';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import pg from 'pg';
import { freePort } from '../../scripts/lib/ports.js';
import { sharedServer } from '../support/servers.js';
import { createSuiteDatabase, type SuiteDatabase } from '../support/stack.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const adminKey = 'lf_e2e_admin_key_0123456789abcdef0123456789';

interface RunningProcess {
  child: ChildProcessWithoutNullStreams;
  stdout: string[];
  stderr: string[];
  exited: Promise<number | null>;
}

/** Runs one of the real entrypoints (`src/server.ts`, `src/worker.ts`, …) as `npm start` does. */
function run(script: string, env: Record<string, string>): RunningProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', script], {
    cwd: root,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', LOG_LEVEL: 'info', ...env },
  });
  const stdout: string[] = [];
  const stderr: string[] = [];
  let pending = '';
  child.stdout.on('data', (chunk: Buffer) => {
    const lines = (pending + chunk.toString()).split('\n');
    pending = lines.pop() ?? '';
    stdout.push(...lines.filter(Boolean));
  });
  child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, stdout, stderr, exited };
}

async function until(what: string, probe: () => Promise<boolean> | boolean, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 150));
  }
}

const readiness = async (url: string) => {
  const response = await fetch(`${url}/readyz`).catch(() => undefined);
  return response ? { status: response.status, body: (await response.json()) as { checks: Record<string, { ok: boolean }> } } : undefined;
};

const logLines = (process: RunningProcess) => process.stdout.map((line) => JSON.parse(line) as Record<string, unknown>);

let database: SuiteDatabase;
beforeAll(async () => {
  database = await createSuiteDatabase();
  const migrate = run('src/db/migrate.ts', { DATABASE_URL: database.url });
  expect(await migrate.exited).toBe(0);
});
afterAll(async () => {
  await database.drop();
});

describe('the API and worker processes', () => {
  it('stops at once with a message naming a bad variable', async () => {
    const api = run('src/server.ts', { PORT: 'not-a-port', DATABASE_URL: database.url, TEMPORAL_ADDRESS: '127.0.0.1:1' });
    expect(await api.exited).toBe(78);
    expect(api.stderr.join('')).toMatch(/PORT: /);
  });

  it('answers /readyz 503 naming Temporal while Temporal is unreachable, and /healthz 200', async () => {
    const port = await freePort();
    const api = run('src/server.ts', {
      PORT: String(port),
      DATABASE_URL: database.url,
      TEMPORAL_ADDRESS: `127.0.0.1:${await freePort()}`,
      LEDGERFLOW_ADMIN_KEY: adminKey,
    });
    const url = `http://127.0.0.1:${port}`;
    try {
      await until('the API to listen', async () => (await fetch(`${url}/healthz`).catch(() => undefined))?.status === 200);
      const ready = await readiness(url);
      expect(ready?.status).toBe(503);
      expect(ready?.body.checks).toMatchObject({ postgres: { ok: true }, temporal: { ok: false } });
    } finally {
      api.child.kill('SIGTERM');
      await api.exited;
    }
  });

  it('serves the slice end to end, logs the request id on every request line, and shuts down gracefully', async () => {
    const port = await freePort();
    const env = {
      PORT: String(port),
      DATABASE_URL: database.url,
      TEMPORAL_ADDRESS: sharedServer('temporalAddress'),
      TEMPORAL_TASK_QUEUE: `e2e-${port}`,
      STRIPE_API_URL: sharedServer('stripeApiUrl'),
      LEDGERFLOW_ADMIN_KEY: adminKey,
      SHUTDOWN_GRACE_MS: '10000',
    };
    const worker = run('src/worker.ts', env);
    const api = run('src/server.ts', env);
    const url = `http://127.0.0.1:${port}`;
    try {
      await until('the API to be ready', async () => (await readiness(url))?.status === 200);
      await until('the worker to start', () => logLines(worker).some((line) => line.msg === 'worker started'));

      const created = await fetch(`${url}/v1/organizations`, {
        method: 'POST',
        headers: { authorization: `Bearer ${adminKey}`, 'content-type': 'application/json', 'x-request-id': 'e2e-create-org' },
        body: JSON.stringify({ name: 'Process Co', currency: 'USD' }),
      });
      expect(created.status).toBe(201);
      const { id } = (await created.json()) as { id: string };

      const client = new pg.Client({ connectionString: database.url });
      await client.connect();
      try {
        await until('the worker to record the billing start', async () => {
          const { rows } = await client.query<{ billing_started_at: Date | null }>('select billing_started_at from organizations where id = $1', [id]);
          return rows[0]?.billing_started_at != null;
        });
      } finally {
        await client.end();
      }

      const requestLines = logLines(api).filter((line) => line.requestId === 'e2e-create-org');
      expect(requestLines).toEqual(expect.arrayContaining([expect.objectContaining({ msg: 'request completed', status: 201 })]));
      expect(logLines(api).filter((line) => 'path' in line && !('requestId' in line))).toEqual([]);

      // A request still sending its body when SIGTERM arrives is served before the process exits.
      const inFlight = new Promise<number>((resolve, reject) => {
        const pending = request(`${url}/v1/applications`, {
          method: 'POST',
          headers: { authorization: `Bearer ${adminKey}`, 'content-type': 'application/json' },
        });
        pending.once('response', (response) => {
          response.resume();
          resolve(response.statusCode ?? 0);
        });
        pending.once('error', reject);
        pending.write('{"slug": "in-flight", ');
        setTimeout(() => {
          api.child.kill('SIGTERM');
          setTimeout(() => pending.end('"name": "In flight"}'), 300);
        }, 300);
      });
      expect(await inFlight).toBe(201);
      expect(await api.exited).toBe(0);
      expect(logLines(api).map((line) => line.msg)).toContain('api stopped');

      worker.child.kill('SIGTERM');
      expect(await worker.exited).toBe(0);
      expect(logLines(worker).map((line) => line.msg)).toContain('worker stopped');
    } finally {
      for (const process of [api, worker]) if (process.child.exitCode === null) process.child.kill('SIGKILL');
    }
  }, 120_000);
});
