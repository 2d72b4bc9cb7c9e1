import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from '@jest/globals';
import { Client, Connection } from '@temporalio/client';
import { freePort, portAnswers } from '../../scripts/lib/ports.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const dataDir = mkdtempSync(join(tmpdir(), 'ledgerflow-dev-'));

interface Supervisor {
  child: ChildProcessWithoutNullStreams;
  output: () => string;
  exited: Promise<number | null>;
}

function startSupervisor(env: Record<string, string>): Supervisor {
  const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/dev.ts'], {
    cwd: root,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', LOG_LEVEL: 'warn', ...env },
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, output: () => output, exited };
}

async function waitForOutput(supervisor: Supervisor, text: string, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  while (!supervisor.output().includes(text)) {
    if (supervisor.child.exitCode !== null) throw new Error(`the supervisor exited:\n${supervisor.output()}`);
    if (Date.now() > deadline) throw new Error(`no "${text}" within ${timeoutMs} ms:\n${supervisor.output()}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

async function stop(supervisor: Supervisor) {
  supervisor.child.kill('SIGINT');
  return supervisor.exited;
}

afterAll(() => {
  rmSync(dataDir, { recursive: true, force: true });
});

describe('npm start (scripts/dev.ts)', () => {
  it('brings every part up, prints where each listens, stops them all on Ctrl-C, and keeps workflows across a restart', async () => {
    const ports = {
      PORT: await freePort(),
      EMBEDDED_POSTGRES_PORT: await freePort(),
      TEMPORAL_DEV_PORT: await freePort(),
      TEMPORAL_UI_PORT: await freePort(),
      STRIPE_MOCK_PORT: await freePort(),
    };
    const env = { LEDGERFLOW_DATA_DIR: dataDir, ...Object.fromEntries(Object.entries(ports).map(([key, port]) => [key, String(port)])) };
    const api = `http://127.0.0.1:${ports.PORT}`;

    const first = startSupervisor(env);
    let organizationId: string;
    try {
      await waitForOutput(first, 'Ctrl-C stops everything.', 180_000);
      for (const address of [api, `${api}/docs`, `http://127.0.0.1:${ports.TEMPORAL_UI_PORT}`, `http://127.0.0.1:${ports.STRIPE_MOCK_PORT}`]) {
        expect(first.output()).toContain(address);
      }
      expect((await fetch(`${api}/readyz`)).status).toBe(200);
      expect((await fetch(`${api}/docs`)).status).toBe(200);
      expect((await fetch(`http://127.0.0.1:${ports.TEMPORAL_UI_PORT}/`)).status).toBe(200);

      const adminKey = readFileSync(join(dataDir, 'admin-key'), 'utf8').trim();
      const created = await fetch(`${api}/v1/organizations`, {
        method: 'POST',
        headers: { authorization: `Bearer ${adminKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'Dev Co', currency: 'USD' }),
      });
      expect(created.status).toBe(201);
      organizationId = ((await created.json()) as { id: string }).id;
    } finally {
      expect(await stop(first)).toBe(0);
    }
    for (const port of Object.values(ports)) expect(await portAnswers(port)).toBe(false);

    const second = startSupervisor(env);
    try {
      await waitForOutput(second, 'Ctrl-C stops everything.', 180_000);
      expect(second.output()).toContain('database schema is up to date');
      const connection = await Connection.connect({ address: `127.0.0.1:${ports.TEMPORAL_DEV_PORT}` });
      try {
        const description = await new Client({ connection }).workflow.getHandle(`billing:${organizationId}`).describe();
        expect(description.status.name).toBe('RUNNING');
      } finally {
        await connection.close();
      }
    } finally {
      expect(await stop(second)).toBe(0);
    }
  }, 420_000);
});
