import pg from 'pg';

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

/** The URL libpq's PG* variables describe (the password stays in PGPASSWORD). */
export function urlOfEnvironment(): string {
  const user = process.env.PGUSER ?? process.env.USER ?? 'postgres';
  const host = process.env.PGHOST ?? 'localhost';
  const port = process.env.PGPORT ?? '5432';
  const database = process.env.PGDATABASE ?? user;
  // A socket directory goes in the `host` parameter, which libpq prefers to the URL's host.
  const socket = host.startsWith('/') ? `?host=${encodeURIComponent(host)}` : '';
  return `postgresql://${encodeURIComponent(user)}@${socket ? 'localhost' : host}:${port}/${encodeURIComponent(database)}${socket}`;
}
