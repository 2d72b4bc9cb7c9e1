import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startTestStack, type TestStack } from '../support/stack.js';
import { createCatalog, createTenant, signJwt } from '../api/support/world.js';

// Schemathesis (PyPI, pinned in scripts/schemathesis/requirements.txt) is installed by
// scripts/bootstrap.sh and put on PATH by scripts/run.sh.
const checks = ['not_a_server_error', 'status_code_conformance', 'content_type_conformance', 'response_schema_conformance'];
/** Bounds the run for two cores (about five minutes): generated requests per operation and phase. */
const maxExamples = 30;
/**
 * Past this the run has hung; the test fails rather than waiting on. Previews and budget tracking
 * of the accounts the fuzzer backdates by decades take seconds each, which the run spends most of.
 */
const timeoutSeconds = 720;

/** Where Schemathesis keeps what it writes (`.schemathesis/`, for `st replay`): outside the checkout. */
const workDirectory = mkdtempSync(join(tmpdir(), 'ledgerflow-fuzz-'));

let stack: TestStack;
let token: string;
beforeAll(async () => {
  stack = await startTestStack();
  // A person's token rather than an API key: the fuzzer finds key ids in responses and would revoke its own.
  token = await signJwt('fuzzer', 'platform_admin');
  // Something to find for the operations that list.
  await createTenant(stack, await createCatalog(stack), { label: 'fuzzed' });
});
afterAll(async () => {
  await stack.stop();
  rmSync(workDirectory, { recursive: true, force: true });
});

function runSchemathesis(args: string[]): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('schemathesis', args, { cwd: workDirectory, env: { ...process.env, NO_COLOR: '1', COLUMNS: '160' }, timeout: (timeoutSeconds - 60) * 1000 });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('error', reject);
    child.once('exit', (code) => resolve({ code, output }));
  });
}

describe('Schemathesis against the real stack', () => {
  it('finds no server error, and every response has a documented status, content type and schema', async () => {
    // The credential the fuzzer sends works, so its requests get past authentication.
    expect((await fetch(`${stack.baseUrl}/v1/applications`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
    const { code, output } = await runSchemathesis([
      'run',
      `${stack.baseUrl}/openapi.json`,
      '--url',
      stack.baseUrl,
      '--header',
      `Authorization: Bearer ${token}`,
      '--checks',
      checks.join(','),
      '--phases',
      'examples,coverage,fuzzing,stateful',
      '--max-examples',
      String(maxExamples),
      // Deterministic: the same seed generates the same requests on every run (Schemathesis 4
      // runs without Hypothesis deadlines, so slow answers are not findings).
      '--seed',
      '20261203',
      '--generation-database',
      'none',
      // One worker: with more, Hypothesis' lambda-source cache races in CPython 3.11's ast module
      // ("AST constructor recursion depth mismatch" errors in Schemathesis itself).
      '--workers',
      '1',
      '--request-timeout',
      '30',
      '--no-color',
    ]);
    if (code !== 0) process.stderr.write(`schemathesis exited ${code}:\n${output}\n`);
    // Its report from the first FAILURES or ERRORS section on: each finding with a reproducing curl line.
    const findings = code === 0 ? '' : output.slice(Math.max(0, output.search(/=+ (?:FAILURES|ERRORS) =+/)));
    expect({ code, findings }).toEqual({ code: 0, findings: '' });
  }, timeoutSeconds * 1000);
});
