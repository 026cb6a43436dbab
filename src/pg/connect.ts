import pg from 'pg';

/** The connection string tidal uses: the --url flag, else TIDAL_DATABASE_URL, else DATABASE_URL.
 *  Undefined means libpq's PG* variables (node-postgres reads them itself). */
export function resolveConnectionString(flagUrl?: string): string | undefined {
  return flagUrl || process.env.TIDAL_DATABASE_URL || process.env.DATABASE_URL || undefined;
}

/** Opens a dedicated connection. `application_name` makes tidal's sessions visible to
 *  whoever looks at pg_stat_activity while a lock is held. */
export async function connect(
  connectionString: string | undefined,
  applicationName = 'tidal',
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
 * A connection URL that selects a version: `options=-c search_path=<version schema>,<schema>`
 * (the application schema stays on the path for its types and functions).
 */
export function versionUrl(
  connectionString: string | undefined,
  versionSchema: string,
  schema: string,
): string {
  const base =
    connectionString ??
    `postgresql://${encodeURIComponent(process.env.PGUSER ?? process.env.USER ?? 'postgres')}@${process.env.PGHOST ?? 'localhost'}:${process.env.PGPORT ?? '5432'}/${encodeURIComponent(process.env.PGDATABASE ?? process.env.PGUSER ?? 'postgres')}`;
  const url = new URL(base);
  // libpq splits `options` on spaces; a backslash keeps one inside a value.
  const path = [versionSchema, schema].map((s) =>
    /^[a-z_][a-z0-9_$]*$/.test(s) ? s : `"${s.replaceAll('"', '""')}"`,
  );
  const options = `-c search_path=${path.join(',').replaceAll(' ', '\\ ')}`;
  url.searchParams.delete('options');
  const rest = url.search.slice(1);
  url.search = '';
  // Encoded by hand: URLSearchParams writes spaces as '+', which libpq does not decode.
  return `${url.toString()}?${rest ? `${rest}&` : ''}options=${encodeURIComponent(options)}`;
}
