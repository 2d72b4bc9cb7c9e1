import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import pg from 'pg';
import { createOrm, migrateUp } from '../../src/db/orm.js';
import { createSuiteDatabase, type SuiteDatabase } from '../support/stack.js';

const root = fileURLToPath(new URL('../..', import.meta.url));

function cli(args: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', ...args], {
      cwd: root,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.once('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

let database: SuiteDatabase;
beforeAll(async () => {
  database = await createSuiteDatabase();
  const orm = await createOrm(database.url, 1);
  await migrateUp(orm);
  await orm.close();
});
afterAll(async () => {
  await database.drop();
});

describe('npm run cli -- keys create', () => {
  it('issues a platform key, prints it once, and stores only its hash and an audit row', async () => {
    const result = await cli(['keys', 'create', '--name', 'ops', '--scopes', 'read,write'], { DATABASE_URL: database.url });
    expect(result.code).toBe(0);
    const issued = JSON.parse(result.stdout) as { id: string; key: string; scopes: string[] };
    expect(issued.key).toMatch(/^lf_sk_[\w-]{43}$/);
    expect(issued.scopes).toEqual(['read', 'write']);

    const client = new pg.Client({ connectionString: database.url });
    await client.connect();
    try {
      const { rows } = await client.query<{ key_hash: string; platform_role: string; dump: string }>(
        'select key_hash, platform_role, to_jsonb(k)::text as dump from api_keys k where id = $1',
        [issued.id],
      );
      expect(rows[0]?.key_hash).toBe(createHash('sha256').update(issued.key).digest('hex'));
      expect(rows[0]?.platform_role).toBe('platform_admin');
      expect(rows[0]?.dump).not.toContain(issued.key);
      const audit = await client.query("select actor_type from audit_events where action = 'api_key.created' and target_id = $1", [issued.id]);
      expect(audit.rows).toEqual([{ actor_type: 'cli' }]);
    } finally {
      await client.end();
    }
  });

  it('refuses an unknown scope with the usage and writes nothing', async () => {
    const result = await cli(['keys', 'create', '--name', 'bad', '--scopes', 'read,everything'], { DATABASE_URL: database.url });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/--scopes/);
    expect(result.stderr).toMatch(/usage: npm run cli -- keys create/);
    const client = new pg.Client({ connectionString: database.url });
    await client.connect();
    const { rows } = await client.query("select count(*)::int as count from api_keys where name = 'bad'");
    await client.end();
    expect(rows).toEqual([{ count: 0 }]);
  });
});
