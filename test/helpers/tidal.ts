/** Running tidal in tests: the library against a test database, and the CLI as a process. */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { type LoadedMigration, loadMigrationText } from '../../src/migration/load.js';
import { ident } from '../../src/pg/quote.js';
import { Tidal, type TidalOptions } from '../../src/tidal.js';

/** A migration from YAML text, loaded as the file `<name>.yaml` would be (checksum included). */
export function migrationFromYaml(name: string, yaml: string): Promise<LoadedMigration> {
  return loadMigrationText(yaml, `${name}.yaml`);
}

/** Runs `work` with a Tidal connected to `url`, closing it afterwards. */
export async function withTidal<T>(
  url: string,
  work: (tidal: Tidal) => Promise<T>,
  options: TidalOptions = {},
): Promise<T> {
  const tidal = await Tidal.connect({
    connectionString: url,
    lockRetryDeadlineMs: 30_000,
    ...options,
  });
  try {
    return await work(tidal);
  } finally {
    await tidal.close();
  }
}

/** A connection that works through one version: search_path = version schema, then `public`. */
export async function versionClient(url: string, versionSchema: string | null): Promise<pg.Client> {
  const client = new pg.Client({
    connectionString: url,
    application_name: `app ${versionSchema ?? 'public'}`,
  });
  client.on('error', () => {});
  await client.connect();
  await client.query(`SET search_path = ${versionSchema ? `${ident(versionSchema)}, ` : ''}public`);
  return client;
}

const CLI = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** The environment of a tidal process: only its flags name the database. */
function cliEnv(env: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  return { ...process.env, DATABASE_URL: undefined, TIDAL_DATABASE_URL: undefined, ...env };
}

/** A `tidal` process running in the background, for tests that interrupt it. */
export interface RunningCli {
  child: ChildProcess;
  /** What it has written to stderr so far. */
  stderr(): string;
  /** Its exit code; null when a signal ended it. */
  exited: Promise<number | null>;
}

/** Starts the built `tidal` binary; `onLine` gets each line it writes to stdout. */
export function startCli(args: string[], onLine?: (line: string) => void): RunningCli {
  const child = spawn(process.execPath, [CLI, ...args], {
    env: cliEnv(),
    stdio: ['ignore', onLine ? 'pipe' : 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (chunk) => {
    stderr += chunk;
  });
  let buffered = '';
  child.stdout?.on('data', (chunk) => {
    buffered += chunk;
    const lines = buffered.split('\n');
    buffered = lines.pop() ?? '';
    for (const line of lines) onLine?.(line);
  });
  return {
    child,
    stderr: () => stderr,
    exited: new Promise((resolve) => child.once('exit', resolve)),
  };
}

/** Runs the built `tidal` binary (npm test builds it first). */
export function runCli(
  args: string[],
  env: Record<string, string | undefined> = {},
): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [CLI, ...args],
      {
        env: cliEnv(env),
        timeout: 120_000,
      },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}
