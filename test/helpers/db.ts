/** A fresh database per test file, on the server the global setup provides. */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { inject } from 'vitest';
import { serverMajor } from '../../src/catalog/read.js';
import { ident } from '../../src/pg/quote.js';

export interface TestDatabase {
  /** Connection string for this database only. */
  url: string;
  name: string;
  pool: pg.Pool;
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(
    sql: string,
    params?: unknown[],
  ): Promise<pg.QueryResult<R>>;
  /** A new dedicated connection (for sessions that hold locks or transactions); dispose closes it. */
  client(applicationName?: string): Promise<pg.Client>;
  /** Closes every connection handed out and drops the database. */
  dispose(): Promise<void>;
}

/** Connection string of the server's maintenance database, as a superuser. */
export function adminUrl(): string {
  const url = inject('adminUrl');
  if (!url)
    throw new Error('no adminUrl provided: run tests with the globalSetup in vitest.config.ts');
  return url;
}

export async function connectAdmin(): Promise<pg.Client> {
  return openClient(adminUrl(), 'tidal-test-admin');
}

/** The major version of the server the tests run on, e.g. 15. */
export async function testServerMajor(): Promise<number> {
  return withAdmin(serverMajor);
}

export async function createTestDatabase(): Promise<TestDatabase> {
  const name = `tidal_test_${randomBytes(6).toString('hex')}`;
  await withAdmin((admin) => admin.query(`CREATE DATABASE ${ident(name)}`));

  const url = databaseUrl(adminUrl(), name);
  const pool = new pg.Pool({ connectionString: url, application_name: 'tidal-test' });
  // An idle pooled connection that the server ends (a test terminating backends) must not crash
  // the worker; the next query on it reports the failure.
  pool.on('error', () => {});
  const clients = new Set<pg.Client>();
  let disposed: Promise<void> | undefined;

  return {
    url,
    name,
    pool,
    query: (sql, params) => pool.query(sql, params),
    async client(applicationName = 'tidal-test') {
      const client = await openClient(url, applicationName);
      clients.add(client);
      return client;
    },
    dispose() {
      disposed ??= (async () => {
        await Promise.allSettled([...clients].map((client) => client.end()));
        if (!pool.ending) await pool.end(); // a test may have ended it; a second end() throws
        // FORCE (PG 13+) ends connections the code under test may have left open.
        await withAdmin((admin) =>
          admin.query(`DROP DATABASE IF EXISTS ${ident(name)} WITH (FORCE)`),
        );
      })();
      return disposed;
    },
  };
}

function databaseUrl(serverUrl: string, database: string): string {
  const url = new URL(serverUrl);
  url.pathname = `/${encodeURIComponent(database)}`;
  return url.toString();
}

async function openClient(url: string, applicationName: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url, application_name: applicationName });
  // A connection the server ends must surface as a failed query, not crash the worker.
  client.on('error', () => {});
  await client.connect();
  return client;
}

async function withAdmin<T>(work: (admin: pg.Client) => Promise<T>): Promise<T> {
  const admin = await connectAdmin();
  try {
    return await work(admin);
  } finally {
    await admin.end();
  }
}
