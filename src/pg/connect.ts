import pg from 'pg';
import {
  libpqOptions,
  type VersionSelection,
  versionSessionParameters,
} from './version-session.js';

/** The `application_name` of tidal's own sessions: `tidal`, or `tidal <role>` (`tidal observer`).
 *  Reads of who is connected leave them out. */
export const TIDAL_APPLICATION_NAME = 'tidal';

/** The connection string tidal uses: the --url flag, else TIDAL_DATABASE_URL, else DATABASE_URL.
 *  Undefined means libpq's PG* variables (node-postgres reads them itself). */
export function resolveConnectionString(flagUrl?: string): string | undefined {
  return flagUrl || process.env.TIDAL_DATABASE_URL || process.env.DATABASE_URL || undefined;
}

/** Opens a dedicated connection. `application_name` makes tidal's sessions visible to
 *  whoever looks at pg_stat_activity while a lock is held. */
export async function connect(
  connectionString: string | undefined,
  applicationName = TIDAL_APPLICATION_NAME,
): Promise<pg.Client> {
  const client = new pg.Client({
    ...(connectionString ? { connectionString } : {}),
    application_name: applicationName,
  });
  // A dropped connection must surface as a failed query, not crash the process.
  client.on('error', () => {});
  await client.connect();
  return client;
}

/**
 * A libpq connection URL for a session of one version (`tidal url`): the database of
 * `connectionString` (or of the PG* variables), with `options` setting search_path and
 * tidal.version and `application_name` carrying the version's tag. Options the connection
 * string already has are kept, before the version's; an `application_name` it has becomes the
 * application's name in the tag unless `selection.application` gives one.
 */
export function versionConnectionUrl(
  connectionString: string | undefined,
  selection: VersionSelection,
): string {
  const base = connectionString ?? urlOfEnvironment();
  let url: URL;
  try {
    url = new URL(base);
  } catch {
    throw new Error(
      'the connection string is not a URL (postgresql://user@host:port/database): a version URL is built from one',
    );
  }
  const given = new URLSearchParams(url.search);
  const { application_name: tag, ...settings } = versionSessionParameters({
    ...selection,
    application: selection.application ?? (given.get('application_name') || undefined),
  });
  const options = [given.get('options'), libpqOptions(settings)].filter(Boolean).join(' ');
  given.delete('options');
  given.delete('application_name');
  url.search = '';
  // Encoded by hand: URLSearchParams writes spaces as '+', which libpq does not decode.
  const parameters = [
    ...[...given].map(([name, value]) => [name, value] as const),
    ['options', options] as const,
    ['application_name', tag] as const,
  ].map(([name, value]) => `${encodeURIComponent(name)}=${encodeURIComponent(value)}`);
  return `${url.toString()}?${parameters.join('&')}`;
}

/** The URL libpq's PG* variables describe (the password stays in PGPASSWORD). */
function urlOfEnvironment(): string {
  const user = process.env.PGUSER ?? process.env.USER ?? 'postgres';
  const host = process.env.PGHOST ?? 'localhost';
  const port = process.env.PGPORT ?? '5432';
  const database = process.env.PGDATABASE ?? user;
  // A socket directory goes in the `host` parameter, which libpq prefers to the URL's host.
  const socket = host.startsWith('/') ? `?host=${encodeURIComponent(host)}` : '';
  return `postgresql://${encodeURIComponent(user)}@${socket ? 'localhost' : host}:${port}/${encodeURIComponent(database)}${socket}`;
}
