// @ts-check
/** What the benches share: progress lines, flag parsing, and a throwaway database. */
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import pg from 'pg';

export const benchStarted = performance.now();

/** A progress line on stderr, with the time since the bench started. */
export function say(/** @type {string} */ message) {
  const elapsed = ((performance.now() - benchStarted) / 1000).toFixed(1).padStart(7);
  process.stderr.write(`[${elapsed}s] ${message}\n`);
}

/** A flag's value as a positive integer (`1_000_000` allowed); exit 2 naming the flag otherwise. */
export function positiveInt(/** @type {string} */ text, /** @type {string} */ flag) {
  const value = Number(text.replaceAll('_', ''));
  if (!Number.isSafeInteger(value) || value <= 0) {
    process.stderr.write(`${flag}: expected a positive integer, got ${JSON.stringify(text)}\n`);
    process.exit(2);
  }
  return value;
}

export async function openClient(/** @type {string} */ url) {
  const client = new pg.Client({ connectionString: url, application_name: 'tidal-bench' });
  client.on('error', () => {});
  await client.connect();
  return client;
}

/**
 * A fresh database on the server of `flagUrl`, else DATABASE_URL, else an embedded PostgreSQL
 * started for the bench. Dropping it (and stopping the server) is pushed onto `cleanups`.
 * @param {string | undefined} flagUrl
 * @param {Array<() => Promise<unknown>>} cleanups
 */
export async function benchDatabase(flagUrl, cleanups) {
  let serverUrl = flagUrl ?? (process.env.DATABASE_URL || undefined);
  let where = flagUrl ? '--url' : 'DATABASE_URL';
  if (!serverUrl) {
    say('no DATABASE_URL: starting an embedded PostgreSQL');
    const { startEmbeddedPostgres } = await import('../dist/pg/embedded.js');
    const server = await startEmbeddedPostgres();
    cleanups.push(() => server.stop());
    serverUrl = server.url;
    where = 'embedded';
  }
  const name = `tidal_bench_${randomBytes(6).toString('hex')}`;
  const admin = await openClient(serverUrl);
  cleanups.push(() => admin.end());
  await admin.query(`CREATE DATABASE ${name}`);
  cleanups.push(async () => {
    say(`dropping database ${name}`);
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  });
  say(`created database ${name}`);
  const url = new URL(serverUrl);
  url.pathname = `/${encodeURIComponent(name)}`;
  return { url: url.toString(), where };
}
