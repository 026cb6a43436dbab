/**
 * How a session selects a version and says which one it uses. Every way of connecting (`tidal
 * url`, `tidal/client` for each library) goes through here, so they select and tag alike:
 * - `search_path` puts the version schema first, the application schema after it (for its types
 *   and functions), so unqualified names reach the version's views;
 * - `tidal.version` names the version, so the dual-write trigger knows the writer's version
 *   however it names the table;
 * - `application_name` carries a tag (`tidal:<version schema>`, then `:<application>` when one
 *   is given), so `tidal status` and `tidal complete` can tell which sessions use which version.
 * The base version (before any migration) is the application schema itself.
 */

/** What selects one version. */
export interface VersionSelection {
  /** The application schema (`public`). */
  schema: string;
  /** The version's schema: `<schema>_<version>`, or the application schema for the base version. */
  versionSchema: string;
  /** The application's own name, kept in the tag after the version (optional). */
  application?: string;
}

/** The run-time parameters a session of the version sets at connect. */
export interface VersionSessionParameters {
  search_path: string;
  'tidal.version': string;
  application_name: string;
}

/** The version schema of a version (a migration name or its `version_schema`): `<schema>_<version>`. */
export function versionSchemaName(schema: string, version: string): string {
  return `${schema}_${version}`;
}

const TAG_PREFIX = 'tidal:';
/** PostgreSQL keeps at most NAMEDATALEN - 1 bytes of application_name. */
const MAX_APPLICATION_NAME_BYTES = 63;

export function versionSessionParameters(selection: VersionSelection): VersionSessionParameters {
  const { schema, versionSchema } = selection;
  const path = versionSchema === schema ? [schema] : [versionSchema, schema];
  return {
    search_path: path.map(searchPathEntry).join(','),
    'tidal.version': versionSchema,
    application_name: versionTag(versionSchema, selection.application),
  };
}

/** The `application_name` of a session of `versionSchema`, cut to what PostgreSQL keeps. */
export function versionTag(versionSchema: string, application?: string): string {
  const tag = `${TAG_PREFIX}${versionSchema}${application ? `:${application}` : ''}`;
  return cutToBytes(tag, MAX_APPLICATION_NAME_BYTES);
}

/**
 * The version schema a session's `application_name` names, among `versionSchemas`; null for a
 * session without a tag. A tag PostgreSQL cut short still names the one version it starts; one
 * that names no known version gives `unknown`. The server keeps only printable ASCII of an
 * application_name, so a version schema is also recognised in the forms it keeps of it.
 */
export function versionOfTag(
  applicationName: string,
  versionSchemas: readonly string[],
): string | null | { unknown: string } {
  if (!applicationName.startsWith(TAG_PREFIX)) return null;
  const rest = applicationName.slice(TAG_PREFIX.length);
  // The longest match first: `public_v2` must not be taken for `public`.
  const known = versionSchemas
    .flatMap((schema) => keptForms(schema).map((form) => ({ form, schema })))
    .sort((a, b) => b.form.length - a.form.length);
  const exact = known.find(({ form }) => rest === form || rest.startsWith(`${form}:`));
  if (exact !== undefined) return exact.schema;
  if (Buffer.byteLength(applicationName) >= MAX_APPLICATION_NAME_BYTES - 3) {
    const cut = [
      ...new Set(known.filter(({ form }) => form.startsWith(rest)).map((k) => k.schema)),
    ];
    if (cut.length === 1 && cut[0] !== undefined) return cut[0];
  }
  const colon = rest.indexOf(':');
  return { unknown: colon < 0 ? rest : rest.slice(0, colon) };
}

/** What PostgreSQL may keep of `text` as an application_name: each byte outside printable
 *  ASCII becomes `?` (up to 15) or `\xNN` (16 and newer). */
function keptForms(text: string): string[] {
  const bytes = [...Buffer.from(text)];
  const cleaned = (replace: (byte: number) => string) =>
    bytes.map((b) => (b >= 32 && b <= 126 ? String.fromCharCode(b) : replace(b))).join('');
  return [
    ...new Set([text, cleaned(() => '?'), cleaned((b) => `\\x${b.toString(16).padStart(2, '0')}`)]),
  ];
}

/** libpq's `options` value that sets the parameters: `-c name=value`, spaces escaped. Only
 *  search_path and tidal.version: application_name is a connection parameter of its own (a
 *  whole `VersionSessionParameters` may be passed). */
export function libpqOptions(parameters: Omit<VersionSessionParameters, 'application_name'>) {
  const settings = {
    search_path: parameters.search_path,
    'tidal.version': parameters['tidal.version'],
  };
  return Object.entries(settings)
    .map(([name, value]) => `-c ${name}=${value.replaceAll('\\', '\\\\').replaceAll(' ', '\\ ')}`)
    .join(' ');
}

/** A schema as search_path takes it: quoted unless it is a plain lower-case name. */
function searchPathEntry(schema: string): string {
  return /^[a-z_][a-z0-9_$]*$/.test(schema) ? schema : `"${schema.replaceAll('"', '""')}"`;
}

/** `text` cut to at most `bytes` bytes of UTF-8, between characters. */
function cutToBytes(text: string, bytes: number): string {
  const characters = [...text];
  while (Buffer.byteLength(characters.join('')) > bytes) characters.pop();
  return characters.join('');
}
