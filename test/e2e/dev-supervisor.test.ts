import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from '@jest/globals';
import { Client, Connection } from '@temporalio/client';
import { freePort, portAnswers } from '../../scripts/lib/ports.js';
import { stripeEventBody, stripeSignature } from '../support/stripe-webhook-events.js';

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

/** Delivers a Stripe event the endpoint acknowledges and ignores, signed with `secret` (or unsigned). */
async function deliverStripeEvent(api: string, secret: string | undefined): Promise<Response> {
  const body = stripeEventBody({ id: `evt_dev_${randomUUID()}`, type: 'customer.created', created: Math.floor(Date.now() / 1000), object: { id: 'cus_dev', object: 'customer' } });
  return fetch(`${api}/v1/webhooks/stripe`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(secret ? { 'stripe-signature': stripeSignature(body, { secret }) } : {}) },
    body,
  });
}

async function stop(supervisor: Supervisor) {
  supervisor.child.kill('SIGINT');
  return supervisor.exited;
}

afterAll(() => {
  rmSync(dataDir, { recursive: true, force: true });
});

describe('npm start (scripts/dev.ts)', () => {
  it('brings every part up, prints where each listens and a Stripe webhook secret it verifies, stops them all on Ctrl-C, and keeps workflows and the secret across a restart', async () => {
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
    let stripeWebhookSecret: string;
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

      // A development Stripe webhook secret, printed and kept: events signed with it are verified.
      stripeWebhookSecret = readFileSync(join(dataDir, 'stripe-webhook-secret'), 'utf8').trim();
      expect(stripeWebhookSecret).toMatch(/^whsec_[\w-]{40,}$/);
      expect(first.output()).toContain(stripeWebhookSecret);
      expect((await deliverStripeEvent(api, stripeWebhookSecret)).status).toBe(200);
      expect((await deliverStripeEvent(api, undefined)).status).toBe(400);
      expect((await deliverStripeEvent(api, 'whsec_not_the_development_secret')).status).toBe(400);
    } finally {
      expect(await stop(first)).toBe(0);
    }
    for (const port of Object.values(ports)) expect(await portAnswers(port)).toBe(false);

    const second = startSupervisor(env);
    try {
      await waitForOutput(second, 'Ctrl-C stops everything.', 180_000);
      expect(second.output()).toContain('database schema is up to date');
      expect(readFileSync(join(dataDir, 'stripe-webhook-secret'), 'utf8').trim()).toBe(stripeWebhookSecret);
      expect(second.output()).toContain(stripeWebhookSecret);
      expect((await deliverStripeEvent(api, stripeWebhookSecret)).status).toBe(200);
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
